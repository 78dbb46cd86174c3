{{- define "rollbot.name" -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "rollbot.labels" -}}
app.kubernetes.io/name: rollbot
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "rollbot.selector" -}}
app.kubernetes.io/name: rollbot
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "rollbot.configMap" -}}
{{- .Values.existingConfigMap | default (printf "%s-config" (include "rollbot.name" .)) -}}
{{- end -}}

{{- define "rollbot.secret" -}}
{{- if .Values.slack.botToken -}}
{{- printf "%s-slack" (include "rollbot.name" .) -}}
{{- else -}}
{{- .Values.slack.existingSecret -}}
{{- end -}}
{{- end -}}
