// Command gosdkdriver drives the official Databricks Go SDK against a Jobs API endpoint, with the
// same calls the Databricks CLI makes for `databricks jobs ...` and `databricks api get`. The Go
// module proxy does not serve the CLI's module source, so the integration suite runs this program
// instead (issue 3, item 6). Host and token come from DATABRICKS_HOST / DATABRICKS_TOKEN.
//
// Usage (one call per process; JSON result on stdout, errors on stderr with exit code 1):
//
//	gosdkdriver jobs create '<JobSettings JSON>'
//	gosdkdriver jobs get <job_id>
//	gosdkdriver jobs list [<name>]
//	gosdkdriver jobs reset <job_id> '<JobSettings JSON>'
//	gosdkdriver jobs update <job_id> '<JobSettings JSON>' [<field to remove>...]
//	gosdkdriver jobs delete <job_id>
//	gosdkdriver jobs run-now <job_id> [--no-wait]
//	gosdkdriver jobs get-permissions <job_id>
//	gosdkdriver jobs set-permissions <job_id> '<access_control_list JSON>'
//	gosdkdriver api get <path>
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/databricks/databricks-sdk-go"
	"github.com/databricks/databricks-sdk-go/client"
	"github.com/databricks/databricks-sdk-go/config"
	"github.com/databricks/databricks-sdk-go/service/jobs"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) < 2 {
		return fmt.Errorf("usage: gosdkdriver jobs|api <command> [args]")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := &config.Config{AuthType: "pat"}
	if args[0] == "api" {
		return apiCall(ctx, cfg, args[1:])
	}
	w, err := databricks.NewWorkspaceClient((*databricks.Config)(cfg))
	if err != nil {
		return err
	}
	cmd, rest := args[1], args[2:]
	switch cmd {
	case "create":
		var req jobs.CreateJob
		if err := decode(rest, 0, &req); err != nil {
			return err
		}
		return emit(w.Jobs.Create(ctx, req))
	case "get":
		id, err := jobID(rest)
		if err != nil {
			return err
		}
		return emit(w.Jobs.GetByJobId(ctx, id))
	case "list":
		req := jobs.ListJobsRequest{}
		if len(rest) > 0 {
			req.Name = rest[0]
		}
		return emit(w.Jobs.ListAll(ctx, req))
	case "reset":
		id, err := jobID(rest)
		if err != nil {
			return err
		}
		var settings jobs.JobSettings
		if err := decode(rest, 1, &settings); err != nil {
			return err
		}
		return emitErr(w.Jobs.Reset(ctx, jobs.ResetJob{JobId: id, NewSettings: settings}))
	case "update":
		id, err := jobID(rest)
		if err != nil {
			return err
		}
		var settings jobs.JobSettings
		if err := decode(rest, 1, &settings); err != nil {
			return err
		}
		req := jobs.UpdateJob{JobId: id, NewSettings: &settings}
		if len(rest) > 2 {
			req.FieldsToRemove = rest[2:]
		}
		return emitErr(w.Jobs.Update(ctx, req))
	case "delete":
		id, err := jobID(rest)
		if err != nil {
			return err
		}
		return emitErr(w.Jobs.DeleteByJobId(ctx, id))
	case "run-now":
		id, err := jobID(rest)
		if err != nil {
			return err
		}
		wait, err := w.Jobs.RunNow(ctx, jobs.RunNow{JobId: id})
		if err != nil {
			return err
		}
		if len(rest) > 1 && rest[1] == "--no-wait" {
			return emit(wait.Response, nil)
		}
		return emit(wait.GetWithTimeout(time.Minute))
	case "get-permissions":
		if len(rest) < 1 {
			return fmt.Errorf("job_id required")
		}
		return emit(w.Jobs.GetPermissionsByJobId(ctx, rest[0]))
	case "set-permissions":
		if len(rest) < 2 {
			return fmt.Errorf("job_id and access_control_list required")
		}
		var acl []jobs.JobAccessControlRequest
		if err := json.Unmarshal([]byte(rest[1]), &acl); err != nil {
			return err
		}
		return emit(w.Jobs.SetPermissions(ctx, jobs.JobPermissionsRequest{JobId: rest[0], AccessControlList: acl}))
	}
	return fmt.Errorf("unknown command %q", cmd)
}

// apiCall is `databricks api get <path>`: a raw authenticated GET printing the JSON answer.
func apiCall(ctx context.Context, cfg *config.Config, args []string) error {
	if len(args) != 2 || args[0] != "get" {
		return fmt.Errorf("usage: gosdkdriver api get <path>")
	}
	c, err := client.New(cfg)
	if err != nil {
		return err
	}
	var out map[string]any
	if err := c.Do(ctx, "GET", args[1], nil, nil, nil, &out); err != nil {
		return err
	}
	return emit(out, nil)
}

func jobID(args []string) (int64, error) {
	if len(args) < 1 {
		return 0, fmt.Errorf("job_id required")
	}
	return strconv.ParseInt(args[0], 10, 64)
}

func decode(args []string, i int, into any) error {
	if len(args) <= i {
		return fmt.Errorf("JSON argument %d required", i+1)
	}
	return json.Unmarshal([]byte(args[i]), into)
}

func emit[T any](value T, err error) error {
	if err != nil {
		return err
	}
	out, err := json.Marshal(value)
	if err != nil {
		return err
	}
	fmt.Println(string(out))
	return nil
}

func emitErr(err error) error {
	if err != nil {
		return err
	}
	fmt.Println("{}")
	return nil
}
