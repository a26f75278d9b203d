// Command argocd-healthcheck evaluates an Argo CD Lua health check with Argo CD's own code
// (github.com/argoproj/argo-cd/v3 and its gitops-engine), as the application controller does.
//
// For every object it prints, once without and once with the Lua open libraries:
//
//   - "lua": what the script itself returned (lua.VM.ExecuteHealthLua, the call Argo CD's own
//     resource_customizations tests make; it keeps deletionMessage), and
//   - "resource": what Argo CD shows for the resource: health.GetResourceHealth with
//     lua.ResourceHealthOverrides, the call the application controller makes (a script error
//     becomes Unknown; a terminating object shows its deletionMessage).
//
// Usage:
//
//	argocd-healthcheck -script health.lua -tests health_test.yaml   # every case of the test file
//	argocd-healthcheck -script health.lua OBJECT.yaml...             # the given objects
//
// Output: one JSON document {"results": [...]} on stdout. The program asserts nothing; the
// dbjobs test suite compares the results with health_test.yaml.
//
// Built by hack/build-argocd.sh inside a wrapper module on argo-cd v3.6.1; not a module of its own.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/argoproj/argo-cd/gitops-engine/v3/pkg/health"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	"github.com/argoproj/argo-cd/v3/util/lua"
)

type testFile struct {
	Tests []struct {
		InputPath string `json:"inputPath"`
	} `json:"tests"`
}

type outcome struct {
	Status          string `json:"status"`
	Message         string `json:"message"`
	DeletionMessage string `json:"deletionMessage,omitempty"`
	Error           string `json:"error,omitempty"`
	// Nil is true when the call returned no health at all (the script returned nil).
	Nil bool `json:"nil,omitempty"`
}

type result struct {
	InputPath   string  `json:"inputPath"`
	UseOpenLibs bool    `json:"useOpenLibs"`
	ConfigKey   string  `json:"configKey"`
	Lua         outcome `json:"lua"`
	Resource    outcome `json:"resource"`
}

func fromHealth(h *health.HealthStatus, err error) outcome {
	out := outcome{}
	if err != nil {
		out.Error = err.Error()
	}
	if h == nil {
		out.Nil = true
		return out
	}
	out.Status = string(h.Status)
	out.Message = h.Message
	out.DeletionMessage = h.DeletionMessage
	return out
}

func readObject(path string) (*unstructured.Unstructured, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	obj := map[string]any{}
	if err := yaml.Unmarshal(data, &obj); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &unstructured.Unstructured{Object: obj}, nil
}

func evaluate(script, inputPath, file string, openLibs bool) (result, error) {
	obj, err := readObject(file)
	if err != nil {
		return result{}, err
	}
	key := lua.GetConfigMapKey(obj.GroupVersionKind())
	vm := lua.VM{UseOpenLibs: openLibs}
	luaHealth, luaErr := vm.ExecuteHealthLua(obj.DeepCopy(), script)
	overrides := lua.ResourceHealthOverrides{key: v1alpha1.ResourceOverride{HealthLua: script, UseOpenLibs: openLibs}}
	resHealth, resErr := health.GetResourceHealth(obj.DeepCopy(), overrides)
	return result{
		InputPath:   inputPath,
		UseOpenLibs: openLibs,
		ConfigKey:   key,
		Lua:         fromHealth(luaHealth, luaErr),
		Resource:    fromHealth(resHealth, resErr),
	}, nil
}

func run() error {
	scriptPath := flag.String("script", "", "the health.lua to evaluate")
	testsPath := flag.String("tests", "", "a health_test.yaml (Argo CD's layout): evaluate every inputPath in it")
	flag.Parse()
	if *scriptPath == "" {
		return fmt.Errorf("-script is required")
	}
	scriptBytes, err := os.ReadFile(*scriptPath)
	if err != nil {
		return err
	}
	script := string(scriptBytes)

	type input struct{ name, file string }
	var inputs []input
	if *testsPath != "" {
		data, err := os.ReadFile(*testsPath)
		if err != nil {
			return err
		}
		var tf testFile
		if err := yaml.Unmarshal(data, &tf); err != nil {
			return fmt.Errorf("%s: %w", *testsPath, err)
		}
		for _, t := range tf.Tests {
			inputs = append(inputs, input{t.InputPath, filepath.Join(filepath.Dir(*testsPath), t.InputPath)})
		}
	}
	for _, arg := range flag.Args() {
		inputs = append(inputs, input{arg, arg})
	}
	if len(inputs) == 0 {
		return fmt.Errorf("nothing to evaluate: give -tests or object files")
	}
	results := []result{}
	for _, in := range inputs {
		for _, openLibs := range []bool{false, true} {
			r, err := evaluate(script, in.name, in.file, openLibs)
			if err != nil {
				return err
			}
			results = append(results, r)
		}
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(map[string]any{"results": results})
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "argocd-healthcheck:", err)
		os.Exit(2)
	}
}
