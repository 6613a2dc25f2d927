{{/*
The named templates a worker chart includes into its pod spec. Each takes the maytrain
chart's context: `.` inside this chart, `.Subcharts.maytrain` from a parent chart.

  maytrain.sidecar.initContainers      items for initContainers (native sidecar, store init)
  maytrain.sidecar.containers          items for containers (the sidecar in plain mode)
  maytrain.sidecar.container           the sidecar container itself, whatever the mode
  maytrain.sidecar.volumes             items for volumes
  maytrain.sidecar.workerEnv           items for the worker's env (MAYTRAIN_TARGET)
  maytrain.sidecar.workerVolumeMounts  items for the worker's volumeMounts (the socket)
  maytrain.sidecar.podAnnotations      pod annotations that roll pods on policy changes
  maytrain.sidecar.config              the policy ConfigMap (this chart renders it itself)
  maytrain.sidecar.snapshotKeySecret   the snapshot key Secret (this chart renders it itself)
*/}}

{{- define "maytrain.sidecar.initContainers" -}}
{{- $items := list }}
{{- if and .Values.store.init.enabled (include "maytrain.follow.needsStore" .) }}
{{- $items = append $items (include "maytrain.sidecar.storeInitContainer" .) }}
{{- end }}
{{- if .Values.sidecar.native }}
{{- $items = append $items (include "maytrain.sidecar.container" .) }}
{{- end }}
{{- join "\n" $items }}
{{- end }}

{{- define "maytrain.sidecar.containers" -}}
{{- if not .Values.sidecar.native -}}
{{ include "maytrain.sidecar.container" . }}
{{- end }}
{{- end }}

{{- define "maytrain.sidecar.container" -}}
{{- include "maytrain.sidecar.validate" . -}}
{{- $sc := .Values.sidecar -}}
- name: {{ $sc.name }}
  image: {{ include "maytrain.image" . | quote }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  {{- if $sc.native }}
  restartPolicy: Always
  {{- end }}
  args:
    - serve
    - --policy=/etc/maytrain/policy/policy.toml
    - {{ printf "--listen=%s" (include "maytrain.sidecar.address" .) | quote }}
    {{- if $sc.podIPListener.enabled }}
    - --listen=0.0.0.0:{{ $sc.podIPListener.port }}
    {{- if $sc.podIPListener.tls.secretName }}
    - --tls-cert={{ include "maytrain.sidecar.tlsDir" . }}/tls.crt
    - --tls-key={{ include "maytrain.sidecar.tlsDir" . }}/tls.key
    {{- if $sc.podIPListener.tls.clientAuth }}
    - --tls-client-ca={{ include "maytrain.sidecar.tlsDir" . }}/ca.crt
    {{- end }}
    {{- else }}
    - --insecure-listen
    {{- end }}
    {{- end }}
    {{- /* Health stays plaintext: the kubelet's gRPC probes cannot do TLS, and it serves
    grpc.health.v1 only. */}}
    - --health-listen=0.0.0.0:{{ $sc.healthPort }}
    {{- if $sc.snapshot.enabled }}
    - {{ printf "--snapshot-file=%s/%s" $sc.snapshot.dir $sc.snapshot.fileName | quote }}
    - --snapshot-key-file={{ include "maytrain.sidecar.snapshotKeyDir" . }}/snapshot.key
    {{- end }}
    {{- with $sc.maxStaleness }}
    - {{ printf "--max-staleness=%v" . | quote }}
    {{- end }}
    {{- with $sc.syncInterval }}
    - {{ printf "--sync-interval=%v" . | quote }}
    {{- end }}
    {{- with $sc.workers }}
    - --workers={{ . }}
    {{- end }}
    - --log-format={{ $sc.logFormat }}
    {{- if .Values.metrics.enabled }}
    - --metrics-listen=0.0.0.0:{{ .Values.metrics.port }}
    {{- end }}
    {{- with $sc.receipts }}
    {{- if .enabled }}
    - {{ printf "--receipts=%s" .dir | quote }}
    - {{ printf "--receipts-sample=%v" .sample | quote }}
    - {{ printf "--receipts-max-bytes=%v" .maxSize | quote }}
    {{- end }}
    {{- end }}
    {{- with $sc.extraArgs }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  env:
    {{- include "maytrain.follow.sidecarEnv" . | nindent 4 }}
    {{- with $sc.env }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  ports:
    - name: health
      containerPort: {{ $sc.healthPort }}
      protocol: TCP
    {{- if $sc.podIPListener.enabled }}
    - name: grpc
      containerPort: {{ $sc.podIPListener.port }}
      protocol: TCP
    {{- end }}
    {{- if .Values.metrics.enabled }}
    - name: metrics
      containerPort: {{ .Values.metrics.port }}
      protocol: TCP
    {{- end }}
  {{- /* The kubelet dials the pod IP on a number: gRPC probes take no named port. */}}
  startupProbe:
    grpc:
      port: {{ $sc.healthPort }}
      service: liveness
    {{- with $sc.probes.startup }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  readinessProbe:
    grpc:
      port: {{ $sc.healthPort }}
      service: maytrain.v1.ConsentCheckService
    {{- with $sc.probes.readiness }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  livenessProbe:
    grpc:
      port: {{ $sc.healthPort }}
      service: liveness
    {{- with $sc.probes.liveness }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- if and (not $sc.native) $sc.preStopSleepSeconds }}
  lifecycle:
    preStop:
      exec:
        command: ["sleep", "{{ $sc.preStopSleepSeconds }}"]
  {{- end }}
  {{- with $sc.resources }}
  resources:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $sc.securityContext }}
  securityContext:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  volumeMounts:
    - name: maytrain-policy
      mountPath: /etc/maytrain/policy
      readOnly: true
    {{- if eq $sc.transport "unix" }}
    - name: maytrain-socket
      mountPath: {{ $sc.unix.socketDir }}
    {{- end }}
    {{- if $sc.snapshot.enabled }}
    - name: maytrain-cache
      mountPath: {{ $sc.snapshot.dir }}
    - name: maytrain-snapshot-key
      mountPath: {{ include "maytrain.sidecar.snapshotKeyDir" . }}
      readOnly: true
    {{- end }}
    {{- if and $sc.podIPListener.enabled $sc.podIPListener.tls.secretName }}
    - name: maytrain-tls
      mountPath: {{ include "maytrain.sidecar.tlsDir" . }}
      readOnly: true
    {{- end }}
    {{- if $sc.receipts.enabled }}
    - name: maytrain-receipts
      mountPath: {{ $sc.receipts.dir }}
    {{- end }}
    {{- include "maytrain.sidecar.storeVolumeMounts" . | nindent 4 }}
    {{- with $sc.volumeMounts }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end }}

{{/*
maytrain.sidecar.storeInitContainer runs `maytrain store init` before the sidecar serves.
*/}}
{{- define "maytrain.sidecar.storeInitContainer" -}}
{{- $sc := .Values.sidecar -}}
- name: {{ $sc.name }}-store-init
  image: {{ include "maytrain.image" . | quote }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  args:
    - store
    - init
    {{- if .Values.store.init.sample }}
    - --sample
    {{- end }}
  env:
    {{- /* The policy validates what --sample writes. */}}
    - name: MAYTRAIN_POLICY
      value: /etc/maytrain/policy/policy.toml
    {{- include "maytrain.sidecar.storeEnv" . | nindent 4 }}
    {{- with $sc.env }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with $sc.resources }}
  resources:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $sc.securityContext }}
  securityContext:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  volumeMounts:
    - name: maytrain-policy
      mountPath: /etc/maytrain/policy
      readOnly: true
    {{- include "maytrain.sidecar.storeVolumeMounts" . | nindent 4 }}
{{- end }}

{{/*
maytrain.sidecar.storeEnv tells the sidecar where the store is and where its password is.
*/}}
{{- define "maytrain.sidecar.storeEnv" -}}
- name: MAYTRAIN_STORE
  value: {{ .Values.store.url | quote }}
{{- if .Values.store.passwordSecret.name }}
- name: MAYTRAIN_STORE_PASSWORD_FILE
  value: /var/run/secrets/maytrain/store/password
{{- end }}
{{- end }}

{{/*
maytrain.sidecar.storeVolumeMounts: the password file, the SQLite data volume, and /tmp.
*/}}
{{- define "maytrain.sidecar.storeVolumeMounts" -}}
- name: maytrain-tmp
  mountPath: /tmp
{{- if and .Values.store.passwordSecret.name (include "maytrain.follow.needsStore" .) }}
- name: maytrain-store-password
  mountPath: /var/run/secrets/maytrain/store
  readOnly: true
{{- end }}
{{- if .Values.store.dataVolume.enabled }}
- name: maytrain-data
  mountPath: {{ .Values.store.dataVolume.mountPath }}
{{- end }}
{{- end }}

{{/*
maytrain.sidecar.address is the main listener, and the worker's MAYTRAIN_TARGET.
*/}}
{{- define "maytrain.sidecar.address" -}}
{{- if eq .Values.sidecar.transport "unix" }}
{{- printf "unix:%s/%s" .Values.sidecar.unix.socketDir .Values.sidecar.unix.socketName }}
{{- else }}
{{- printf "127.0.0.1:%v" .Values.sidecar.tcp.port }}
{{- end }}
{{- end }}

{{- define "maytrain.sidecar.volumes" -}}
- name: maytrain-policy
  configMap:
    name: {{ include "maytrain.policyConfigMapName" . }}
- name: maytrain-tmp
  emptyDir:
    sizeLimit: 16Mi
{{- if eq .Values.sidecar.transport "unix" }}
- name: maytrain-socket
  emptyDir:
    medium: Memory
    sizeLimit: {{ .Values.sidecar.unix.sizeLimit }}
{{- end }}
{{- if .Values.sidecar.snapshot.enabled }}
- name: maytrain-cache
  emptyDir:
    sizeLimit: {{ .Values.sidecar.snapshot.sizeLimit }}
- name: maytrain-snapshot-key
  secret:
    secretName: {{ include "maytrain.snapshotKeySecretName" . }}
    {{- /* 0444, as the password: only the sidecar container mounts it. */}}
    defaultMode: 292
    items:
      - key: {{ .Values.sidecar.snapshot.keySecret.key }}
        path: snapshot.key
{{- end }}
{{- with .Values.sidecar.podIPListener }}
{{- if and .enabled .tls.secretName }}
- name: maytrain-tls
  secret:
    secretName: {{ .tls.secretName }}
    defaultMode: 292
    items:
      - key: tls.crt
        path: tls.crt
      - key: tls.key
        path: tls.key
      {{- if .tls.clientAuth }}
      - key: ca.crt
        path: ca.crt
      {{- end }}
{{- end }}
{{- end }}
{{- if .Values.store.dataVolume.enabled }}
- name: maytrain-data
  emptyDir:
    sizeLimit: {{ .Values.store.dataVolume.sizeLimit }}
{{- end }}
{{- with .Values.sidecar.receipts }}
{{- if .enabled }}
- name: maytrain-receipts
  {{- if .existingClaim }}
  persistentVolumeClaim:
    claimName: {{ .existingClaim }}
  {{- else }}
  emptyDir:
    sizeLimit: {{ .sizeLimit }}
  {{- end }}
{{- end }}
{{- end }}
{{- with .Values.store.passwordSecret }}
{{- if and .name (include "maytrain.follow.needsStore" $) }}
- name: maytrain-store-password
  secret:
    secretName: {{ .name }}
    {{- /* 0444: only the sidecar container mounts it, and it must be readable
    whatever fsGroup the pod sets (or does not). */}}
    defaultMode: 292
    items:
      - key: {{ .key }}
        path: password
{{- end }}
{{- end }}
{{- end }}

{{- define "maytrain.sidecar.tlsDir" -}}
/var/run/secrets/maytrain/tls
{{- end }}

{{- define "maytrain.sidecar.snapshotKeyDir" -}}
/var/run/secrets/maytrain/snapshot-key
{{- end }}

{{- define "maytrain.sidecar.workerEnv" -}}
- name: MAYTRAIN_TARGET
  value: {{ include "maytrain.sidecar.address" . | quote }}
{{- end }}

{{/*
maytrain.sidecar.workerVolumeMounts mounts the socket directory read-only: the worker can
connect to the socket but cannot replace it. Empty in tcp mode.
*/}}
{{- define "maytrain.sidecar.workerVolumeMounts" -}}
{{- if eq .Values.sidecar.transport "unix" -}}
- name: maytrain-socket
  mountPath: {{ .Values.sidecar.unix.socketDir }}
  readOnly: true
{{- end }}
{{- end }}

{{- define "maytrain.sidecar.podAnnotations" -}}
{{- if not .Values.policy.existingConfigMap -}}
checksum/maytrain-policy: {{ include "maytrain.policyText" . | sha256sum }}
{{- end }}
{{- end }}

{{- define "maytrain.sidecar.config" -}}
{{- if not .Values.policy.existingConfigMap -}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "maytrain.policyConfigMapName" . }}
  labels:
    {{- include "maytrain.labels" . | nindent 4 }}
data:
  {{- dict "policy.toml" (include "maytrain.policyText" .) | toYaml | nindent 2 }}
{{- end }}
{{- end }}

{{/*
maytrain.sidecar.snapshotKeySecret is the random key that authenticates the snapshot
file, unless sidecar.snapshot.keySecret.existingSecret names one. An installed release
keeps its key (lookup): a new key on every upgrade would make each pod's file useless.
*/}}
{{- define "maytrain.sidecar.snapshotKeySecret" -}}
{{- $snapshot := .Values.sidecar.snapshot -}}
{{- if and $snapshot.enabled (not $snapshot.keySecret.existingSecret) -}}
{{- $name := include "maytrain.snapshotKeySecretName" . -}}
{{- $installed := lookup "v1" "Secret" .Release.Namespace $name -}}
{{- /* randBytes gives base64 text already: the key file holds those 44 characters. */ -}}
{{- $value := randBytes 32 | b64enc -}}
{{- if and $installed (hasKey ($installed.data | default dict) $snapshot.keySecret.key) -}}
{{- $value = index $installed.data $snapshot.keySecret.key -}}
{{- end -}}
apiVersion: v1
kind: Secret
metadata:
  name: {{ $name }}
  labels:
    {{- include "maytrain.labels" . | nindent 4 }}
type: Opaque
data:
  {{ $snapshot.keySecret.key }}: {{ $value | quote }}
{{- end }}
{{- end }}

{{/*
maytrain.sidecar.validate fails the render on values the schema cannot check alone.
*/}}
{{- define "maytrain.sidecar.validate" -}}
{{- $sc := .Values.sidecar -}}
{{- $url := .Values.store.url -}}
{{- if include "maytrain.carriesPassword" $url }}
{{- fail "store.url must not carry a password: put it in an existing Secret and name it in store.passwordSecret.name" }}
{{- end }}
{{- range $sc.extraArgs }}
{{- if include "maytrain.carriesPassword" . }}
{{- fail "sidecar.extraArgs must not carry a password (arguments show in the pod spec and every process list): put it in an existing Secret and name it in store.passwordSecret.name" }}
{{- end }}
{{- end }}
{{- range $sc.env }}
{{- if and (eq .name "PGPASSWORD") (hasKey . "value") }}
{{- fail "sidecar.env PGPASSWORD must come from a Secret (valueFrom.secretKeyRef), not a value; or use store.passwordSecret" }}
{{- end }}
{{- if include "maytrain.carriesPassword" (.value | default "") }}
{{- fail (printf "sidecar.env %s must not carry a password: put it in an existing Secret and name it in store.passwordSecret.name" .name) }}
{{- end }}
{{- end }}
{{- if and $sc.workers (gt (int $sc.workers) 1) (eq $sc.transport "unix") }}
{{- fail "sidecar.workers above 1 needs sidecar.transport \"tcp\": processes cannot share the unix socket" }}
{{- end }}
{{- with $sc.podIPListener }}
{{- if and .enabled (not .tls.secretName) (not .insecure) }}
{{- fail "sidecar.podIPListener.enabled serves consent checks to the pod network: set sidecar.podIPListener.tls.secretName (a kubernetes.io/tls Secret) or, to serve plaintext to anyone on that network, sidecar.podIPListener.insecure=true" }}
{{- end }}
{{- if and .enabled .tls.clientAuth (not .tls.secretName) }}
{{- fail "sidecar.podIPListener.tls.clientAuth needs sidecar.podIPListener.tls.secretName, whose ca.crt signs the client certificates" }}
{{- end }}
{{- if and .enabled .tls.secretName (eq $sc.transport "tcp") }}
{{- fail "sidecar.podIPListener.tls makes every TCP listener of the sidecar TLS, the worker's loopback one too: use sidecar.transport=unix with it" }}
{{- end }}
{{- end }}
{{- if and (hasPrefix "sqlite:" $url) .Values.store.dataVolume.enabled }}
{{- $dir := printf "%s/" (trimSuffix "/" .Values.store.dataVolume.mountPath) }}
{{- if not (hasPrefix (printf "sqlite:///%s" $dir) $url) }}
{{- fail (printf "store.url (%s) must put the SQLite file under store.dataVolume.mountPath (%s): the root filesystem is read-only" $url $dir) }}
{{- end }}
{{- end }}
{{- if and $sc.native (semverCompare "<1.29.0-0" .Capabilities.KubeVersion.Version) }}
{{- fail (printf "sidecar.native needs Kubernetes 1.29 or later (native sidecar containers); this cluster is %s: set sidecar.native=false" .Capabilities.KubeVersion.Version) }}
{{- end }}
{{- $socket := printf "%s/%s" $sc.unix.socketDir $sc.unix.socketName }}
{{- if and (eq $sc.transport "unix") (gt (len $socket) 107) }}
{{- fail (printf "the unix socket path %s is longer than the 107 bytes a socket address holds: shorten sidecar.unix.socketDir or socketName" $socket) }}
{{- end }}
{{- $ports := list (int $sc.healthPort) }}
{{- if eq $sc.transport "tcp" }}{{ $ports = append $ports (int $sc.tcp.port) }}{{ end }}
{{- if $sc.podIPListener.enabled }}{{ $ports = append $ports (int $sc.podIPListener.port) }}{{ end }}
{{- if .Values.metrics.enabled }}{{ $ports = append $ports (int .Values.metrics.port) }}{{ end }}
{{- if ne (len $ports) (len (uniq $ports)) }}
{{- fail (printf "sidecar.healthPort, sidecar.tcp.port (tcp mode), sidecar.podIPListener.port and metrics.port (when enabled) must differ, got %v" $ports) }}
{{- end }}
{{- end }}

{{/*
maytrain.carriesPassword is "yes" for text holding a URL with a password (user:pw@ or a
password= parameter), else empty.
*/}}
{{- define "maytrain.carriesPassword" -}}
{{- if or (regexMatch "[A-Za-z][A-Za-z0-9+.-]*://[^:@/?\\s]*:[^?\\s]*@" .) (regexMatch "(?i)[?&]password=" .) -}}
yes
{{- end }}
{{- end }}
