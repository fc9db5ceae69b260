{{- define "kiln.labels" -}}
app.kubernetes.io/part-of: kiln
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}

{{- define "kiln.secretName" -}}
{{- default (printf "%s-kiln" .Release.Name) .Values.secrets.existingSecret -}}
{{- end -}}

{{- define "kiln.image" -}}
{{- if or (not .root.Values.image.tag) (eq .root.Values.image.tag "latest") -}}
{{- fail "image.tag must name a release (such as v0.1.0), not latest" -}}
{{- end -}}
{{ .root.Values.image.registry }}/{{ .name }}:{{ .root.Values.image.tag }}
{{- end -}}
