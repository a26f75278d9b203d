{{/*
Every RBAC rule of the chart, in one place. Each verb is a Kubernetes call the code makes, and no more:
tests/e2e/test_rbac.py reads the apiserver's audit log of a full lifecycle under these rules, fails on a
verb never called, and shows each one is needed (dropped -> that request refused).
*/}}

{{/* The controller, on the resources of the namespaces it watches (a ClusterRole or a Role in each). */}}
{{- define "dbjobs.rules.controller.namespaced" -}}
- apiGroups: [dbjobs.io]
  resources: [databricksjobs]
  verbs: [list, watch, patch]
- apiGroups: [dbjobs.io]
  resources: [databricksjobs/status]
  verbs: [patch]
- apiGroups: [dbjobs.io]
  resources: [databricksworkspaces]
  verbs: [list, watch]
- apiGroups: [dbjobs.io]
  resources: [databricksworkspaces/status]
  verbs: [patch]
- apiGroups: [""]
  resources: [secrets]
  verbs: [get]
- apiGroups: [""]
  resources: [events]
  verbs: [create]
{{- end }}

{{/*
The controller, cluster-scoped: kopf watches CRDs when it runs cluster-wide (it watches namespaces only for
namespace globs, which the chart never passes). The platform's ClusterDatabricksWorkspaces (list, watch, status)
and Namespaces (list, watch: their labels decide what a ClusterDatabricksWorkspace's namespaceSelector admits)
are watched cluster-wide only. Never granted with watchNamespaces (kopf then logs a warning and carries on; the
controller then registers no cluster-scoped watch, and ClusterDatabricksWorkspaces are not supported there).
*/}}
{{- define "dbjobs.rules.controller.cluster" -}}
- apiGroups: [apiextensions.k8s.io]
  resources: [customresourcedefinitions]
  verbs: [list, watch]
- apiGroups: [dbjobs.io]
  resources: [clusterdatabricksworkspaces]
  verbs: [list, watch]
- apiGroups: [dbjobs.io]
  resources: [clusterdatabricksworkspaces/status]
  verbs: [patch]
- apiGroups: [""]
  resources: [namespaces]
  verbs: [list, watch]
{{- end }}

{{/*
The controller's leader election, in the release namespace: the kubernetes client's leaderelection reads,
creates and replaces (update) its Lease, nothing else. create cannot be limited to a name (the name is not
known when a create is authorized); get and update are limited to the release's Lease.
*/}}
{{- define "dbjobs.rules.controller.leases" -}}
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  verbs: [create]
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  resourceNames: [{{ include "dbjobs.leaseName" . }}]
  verbs: [get, update]
{{- end }}

{{/* The uninstall hook, on DatabricksJobs: keep releases finalizers (patch), delete deletes them. */}}
{{- define "dbjobs.rules.uninstall.jobs" -}}
- apiGroups: [dbjobs.io]
  resources: [databricksjobs]
  verbs: [list, {{ if eq .Values.uninstall.jobs "delete" }}delete{{ else }}patch{{ end }}]
{{- if eq .Values.uninstall.jobs "delete" }}
- apiGroups: [dbjobs.io]
  resources: [databricksworkspaces]
  verbs: [patch]
{{- end }}
{{- end }}

{{/* The uninstall hook, in the release namespace: scale the controller Deployment to 0 (keep only). */}}
{{- define "dbjobs.rules.uninstall.scale" -}}
- apiGroups: [apps]
  resources: [deployments/scale]
  resourceNames: [{{ include "dbjobs.fullname" . }}]
  verbs: [get, patch]
{{- end }}
