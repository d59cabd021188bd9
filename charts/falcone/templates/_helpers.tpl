{{/* Names: the chart name, the release's full name and a component's name (its objects are named after it). */}}
{{- define "falcone.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "falcone.fullname" -}}
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

{{/* (list $ "executor") -> <fullname>-executor; 52 characters leave room for the suffixes controllers add. */}}
{{- define "falcone.componentName" -}}
{{- $root := index . 0 -}}
{{- printf "%s-%s" (include "falcone.fullname" $root | trunc 52 | trimSuffix "-") (index . 1) }}
{{- end }}

{{- define "falcone.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ include "falcone.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{/* Every object's labels: (list $ "<component>"). */}}
{{- define "falcone.labels" -}}
{{- $root := index . 0 -}}
helm.sh/chart: {{ printf "%s-%s" $root.Chart.Name $root.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "falcone.selectorLabels" . }}
app.kubernetes.io/version: {{ $root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ $root.Release.Service }}
app.kubernetes.io/part-of: falcone
falcone.io/profile: {{ $root.Values.profile }}
{{- with $root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The Secret a component reads: (list $ "<component>"). */}}
{{- define "falcone.secretName" -}}
{{- $root := index . 0 -}}
{{- $component := index . 1 -}}
{{- default (include "falcone.componentName" .) (index $root.Values.secrets $component).name }}
{{- end }}

{{/* An image reference from {repository, tag, digest}; the tag defaults to the chart's appVersion. */}}
{{- define "falcone.imageRef" -}}
{{- $root := index . 0 -}}
{{- $image := index . 1 -}}
{{- if $image.digest }}
{{- printf "%s@%s" $image.repository $image.digest }}
{{- else }}
{{- printf "%s:%s" $image.repository (default $root.Chart.AppVersion $image.tag) }}
{{- end }}
{{- end }}

{{/* A backend's URL from {scheme, host, port}. */}}
{{- define "falcone.backendUrl" -}}
{{- printf "%s://%s:%v" .scheme .host .port }}
{{- end }}

{{/*
Pod security, restricted profile: no root, RuntimeDefault seccomp. No runAsUser, runAsGroup or fsGroup, so
OpenShift's restricted-v2 SCC assigns them; `podSecurityContext` may add fields, never weaken these.
*/}}
{{- define "falcone.podSecurityContext" -}}
{{- $restricted := dict "runAsNonRoot" true "seccompProfile" (dict "type" "RuntimeDefault") }}
{{- toYaml (merge $restricted (deepCopy .Values.podSecurityContext)) }}
{{- end }}

{{- define "falcone.containerSecurityContext" -}}
runAsNonRoot: true
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Pod spec fields every workload shares: (list $ "<component>" <component values>). */}}
{{- define "falcone.podCommon" -}}
{{- $root := index . 0 -}}
{{- $component := index . 1 -}}
{{- $values := index . 2 -}}
serviceAccountName: {{ include "falcone.componentName" (list $root $component) }}
# None of the services calls the Kubernetes API with its own identity (the automation service uses the
# kubeconfig in its backends Secret).
automountServiceAccountToken: false
enableServiceLinks: false
securityContext:
  {{- include "falcone.podSecurityContext" $root | nindent 2 }}
{{- with $root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . }}
  {{- end }}
{{- end }}
{{- with $values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if $root.Values.topologySpread.enabled }}
topologySpreadConstraints:
  {{- range $key := list "topology.kubernetes.io/zone" "kubernetes.io/hostname" }}
  - maxSkew: 1
    topologyKey: {{ $key }}
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "falcone.selectorLabels" (list $root $component) | nindent 8 }}
  {{- end }}
{{- end }}
{{- end }}

{{/* The enabled components, in a fixed order. */}}
{{- define "falcone.components" -}}
{{- $enabled := list }}
{{- range $name := list "automation" "executor" "gateway" }}
{{- if (index $.Values $name).enabled }}
{{- $enabled = append $enabled $name }}
{{- end }}
{{- end }}
{{- join " " $enabled }}
{{- end }}

{{/*
Where a backend is, as NetworkPolicy peers: (list $ <backend values>). Its pods when it runs in the cluster,
its IP ranges otherwise; nothing when neither is known (the rule then names only the port).
*/}}
{{- define "falcone.backendPeers" -}}
{{- $root := index . 0 -}}
{{- $backend := index . 1 -}}
{{- with $backend.inCluster.podLabels }}
- podSelector:
    matchLabels:
      {{- toYaml . | nindent 6 }}
  {{- $namespace := default $root.Release.Namespace $backend.inCluster.namespace }}
  namespaceSelector:
    matchLabels:
      kubernetes.io/metadata.name: {{ $namespace }}
{{- end }}
{{- range $backend.cidrs }}
- ipBlock:
    cidr: {{ . }}
{{- end }}
{{- end }}

{{/*
A component's extraSettings added to its environment: (list $env "<component>" <extraSettings> "<PREFIX>").
A setting named like a secret is refused (secrets come from the component's Secret, never from values), and so
is one the chart sets from its own values.
*/}}
{{- define "falcone.extraSettings" -}}
{{- $env := index . 0 -}}
{{- $component := index . 1 -}}
{{- $prefix := index . 3 -}}
{{- range $key, $value := index . 2 }}
{{- if regexMatch "(SECRET|TOKEN|PASSWORD|PASSPHRASE|DSN|_KEY|BACKENDS_FILE)$" $key }}
{{- fail (printf "%s.extraSettings.%s names a secret: it comes from the component's Secret, never from values (docs/helm.md)" $component $key) }}
{{- end }}
{{- $name := printf "%s%s" $prefix $key }}
{{- if hasKey $env $name }}
{{- fail (printf "%s.extraSettings.%s is set by the chart from its own values (docs/helm.md)" $component $key) }}
{{- end }}
{{- $_ := set $env $name (toString $value) }}
{{- end }}
{{- end }}
