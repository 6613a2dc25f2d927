{{/*
Standard helpers: names, labels, the image reference. Every helper takes the maytrain
chart's own context: `.` inside this chart, `.Subcharts.maytrain` from a parent chart.
*/}}

{{/*
maytrain.name is the chart name, or nameOverride.
*/}}
{{- define "maytrain.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
maytrain.fullname is the release-qualified name; the release name alone when it already
contains the chart name. Truncated to 63 characters (DNS label limit).
*/}}
{{- define "maytrain.fullname" -}}
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

{{/*
maytrain.chart is the chart name and version, for the helm.sh/chart label.
*/}}
{{- define "maytrain.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
maytrain.labels are the common labels of every resource.
*/}}
{{- define "maytrain.labels" -}}
helm.sh/chart: {{ include "maytrain.chart" . }}
{{ include "maytrain.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
maytrain.selectorLabels select the standalone worker's pods.
*/}}
{{- define "maytrain.selectorLabels" -}}
app.kubernetes.io/name: {{ include "maytrain.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
maytrain.image is the sidecar image reference; a digest wins over a tag.
*/}}
{{- define "maytrain.image" -}}
{{- with .Values.image.digest }}
{{- printf "%s@%s" $.Values.image.repository . }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/*
maytrain.workerImage is the standalone worker's image (a digest wins over a tag); the
sidecar image when unset.
*/}}
{{- define "maytrain.workerImage" -}}
{{- $image := .Values.worker.image }}
{{- if and $image.repository $image.digest }}
{{- printf "%s@%s" $image.repository $image.digest }}
{{- else if $image.repository }}
{{- printf "%s:%s" $image.repository ($image.tag | default "latest") }}
{{- else }}
{{- include "maytrain.image" . }}
{{- end }}
{{- end }}

{{/*
maytrain.serviceAccountName is the pod's service account.
*/}}
{{- define "maytrain.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "maytrain.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
maytrain.policyConfigMapName is the ConfigMap that holds the policy file.
*/}}
{{- define "maytrain.policyConfigMapName" -}}
{{- .Values.policy.existingConfigMap | default (printf "%s-policy" (include "maytrain.fullname" . | trunc 56 | trimSuffix "-")) }}
{{- end }}

{{/*
maytrain.policyText is the policy the chart ships in its ConfigMap.
*/}}
{{- define "maytrain.policyText" -}}
{{- .Values.policy.text | default (.Files.Get "files/default-policy.toml") }}
{{- end }}

{{/*
maytrain.snapshotKeySecretName is the Secret holding the snapshot key.
*/}}
{{- define "maytrain.snapshotKeySecretName" -}}
{{- .Values.sidecar.snapshot.keySecret.existingSecret | default (printf "%s-snapshot-key" (include "maytrain.fullname" . | trunc 50 | trimSuffix "-")) }}
{{- end }}

{{/*
maytrain.metricsName names the metrics Service and its ServiceMonitor.
*/}}
{{- define "maytrain.metricsName" -}}
{{- printf "%s-metrics" (include "maytrain.fullname" . | trunc 55 | trimSuffix "-") }}
{{- end }}
