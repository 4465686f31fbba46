{{/*
The chart name, or nameOverride.
*/}}
{{- define "regcred-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name every object name starts with: fullnameOverride, else the
release name when it contains the chart name, else <release>-<chart name>.
*/}}
{{- define "regcred-operator.fullname" -}}
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
A component's name, <fullname>-<suffix>, at most 63 characters: the full name
is shortened, never the suffix, so two components never end up with one name.
Call with (dict "context" $ "suffix" "webhook-service").
*/}}
{{- define "regcred-operator.componentName" -}}
{{- $max := int (sub 62 (len .suffix)) }}
{{- printf "%s-%s" (include "regcred-operator.fullname" .context | trunc $max | trimSuffix "-") .suffix }}
{{- end }}

{{/*
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "regcred-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels of every object.
*/}}
{{- define "regcred-operator.labels" -}}
helm.sh/chart: {{ include "regcred-operator.chart" . }}
{{ include "regcred-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: regcred-operator
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Labels that select the operator's Pods.
*/}}
{{- define "regcred-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "regcred-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The ServiceAccount the operator runs as.
*/}}
{{- define "regcred-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "regcred-operator.componentName" (dict "context" . "suffix" "controller-manager")) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Names other objects and the operator's flags refer to.
*/}}
{{- define "regcred-operator.managerName" -}}
{{- include "regcred-operator.componentName" (dict "context" . "suffix" "controller-manager") }}
{{- end }}

{{- define "regcred-operator.webhookServiceName" -}}
{{- include "regcred-operator.componentName" (dict "context" . "suffix" "webhook-service") }}
{{- end }}

{{- define "regcred-operator.metricsServiceName" -}}
{{- include "regcred-operator.componentName" (dict "context" . "suffix" "controller-manager-metrics-service") }}
{{- end }}

{{- define "regcred-operator.mutatingWebhookConfigurationName" -}}
{{- include "regcred-operator.componentName" (dict "context" . "suffix" "mutating-webhook-configuration") }}
{{- end }}

{{- define "regcred-operator.validatingWebhookConfigurationName" -}}
{{- include "regcred-operator.componentName" (dict "context" . "suffix" "validating-webhook-configuration") }}
{{- end }}

{{- define "regcred-operator.webhookCertSecretName" -}}
{{- include "regcred-operator.componentName" (dict "context" . "suffix" "webhook-server-cert") }}
{{- end }}

{{- define "regcred-operator.issuerName" -}}
{{- include "regcred-operator.componentName" (dict "context" . "suffix" "selfsigned-issuer") }}
{{- end }}

{{- define "regcred-operator.certificateName" -}}
{{- include "regcred-operator.componentName" (dict "context" . "suffix" "serving-cert") }}
{{- end }}

{{/*
"true" when the operator serves any webhook (the Pod webhook or the tenancy
guard), so that it needs the webhook Service and a serving certificate.
*/}}
{{- define "regcred-operator.servesWebhooks" -}}
{{- if or .Values.webhook.enabled .Values.tenancyGuard.enabled }}true{{ end }}
{{- end }}

{{/*
"true" when cert-manager provides the serving certificate; fails on an
unknown certificates.mode.
*/}}
{{- define "regcred-operator.certManager" -}}
{{- if eq .Values.certificates.mode "cert-manager" }}true
{{- else if ne .Values.certificates.mode "self" }}
{{- fail (printf "certificates.mode must be \"self\" or \"cert-manager\", not %q" .Values.certificates.mode) }}
{{- end }}
{{- end }}
