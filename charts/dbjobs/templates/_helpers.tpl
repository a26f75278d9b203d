{{/* Names, labels and the checks every render runs. */}}

{{- define "dbjobs.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name: "<release>-dbjobs", or the release name when it already holds the chart name. */}}
{{- define "dbjobs.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "dbjobs.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "dbjobs.selectorLabels" -}}
app.kubernetes.io/name: {{ include "dbjobs.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "dbjobs.labels" -}}
helm.sh/chart: {{ include "dbjobs.chart" . }}
{{ include "dbjobs.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: dbjobs
{{- end }}

{{- define "dbjobs.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "dbjobs.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "dbjobs.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The Lease the replicas elect their leader on (leaderElection.leaseName, default the full name). */}}
{{- define "dbjobs.leaseName" -}}
{{- default (include "dbjobs.fullname" .) .Values.leaderElection.leaseName }}
{{- end }}

{{/* The uninstall hook's own names (its ServiceAccount, Role(s) and Job). */}}
{{- define "dbjobs.uninstallName" -}}
{{- printf "%s-uninstall" (include "dbjobs.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Checks on combinations of values the schema cannot express (or cannot explain). Included by the
Deployment, so every render runs them.
*/}}
{{- define "dbjobs.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.leaderElection.enabled) }}
{{- fail (printf "replicaCount=%v needs leaderElection.enabled=true: without leader election every replica would reconcile every job (double jobs/reset calls, racing status writes); use 1 (or 0 to stop the controller)" .Values.replicaCount) }}
{{- end }}
{{- with .Values.leaderElection }}
{{- if and .enabled (le (int .leaseDurationSeconds) (int .renewDeadlineSeconds)) }}
{{- fail (printf "leaderElection.leaseDurationSeconds=%v must be greater than renewDeadlineSeconds=%v: the leader must stop before a follower may take over" .leaseDurationSeconds .renewDeadlineSeconds) }}
{{- end }}
{{- if and .enabled (le (mul (int .renewDeadlineSeconds) 5) (mul (int .retryPeriodSeconds) 6)) }}
{{- fail (printf "leaderElection.renewDeadlineSeconds=%v must be greater than 1.2 x retryPeriodSeconds=%v: the leader needs more than one try to renew" .renewDeadlineSeconds .retryPeriodSeconds) }}
{{- end }}
{{- end }}
{{- if and .Values.metrics.enabled (eq (int .Values.metrics.port) (int .Values.health.port)) }}
{{- fail (printf "metrics.port and health.port are both %v: the metrics and health endpoints need two ports" .Values.health.port) }}
{{- end }}
{{- if ge (int .Values.controller.shutdownSeconds) (int .Values.terminationGracePeriodSeconds) }}
{{- fail (printf "controller.shutdownSeconds=%v must be below terminationGracePeriodSeconds=%v, or the kubelet kills the controller before it has abandoned its in-flight work" .Values.controller.shutdownSeconds .Values.terminationGracePeriodSeconds) }}
{{- end }}
{{- if and (not .Values.serviceAccount.create) .Values.rbac.create (not .Values.serviceAccount.name) }}
{{- fail "rbac.create binds the controller's ServiceAccount: with serviceAccount.create=false set serviceAccount.name to an existing ServiceAccount" }}
{{- end }}
{{- end }}

{{/*
DBJOBS_WORKLOAD_IDENTITY_CLIENTS from auth.workloadIdentity.allowedClients: "NAMESPACE=CLIENT_ID,...".
*/}}
{{- define "dbjobs.workloadIdentityClients" -}}
{{- $pairs := list -}}
{{- range .allowedClients -}}
{{- $pairs = append $pairs (printf "%s=%s" .namespace .clientId) -}}
{{- end -}}
{{- join "," $pairs -}}
{{- end }}
