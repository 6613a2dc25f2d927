{{/*
Following a relay over NATS (follow.nats, docs/fleet.md): what changes in the sidecar, and
the relay's container.

  maytrain.follow.sidecarEnv   the sidecar's store env: the relay's stream instead of the
                               store (the store too only with follow.nats.storeFallback)
  maytrain.follow.needsStore   "true" when the sidecar reads the store (its password mounted)
  maytrain.follow.relayContainer  the `maytrain relay` container
*/}}

{{- /* Its own name label, so that no selector of the worker's (its Deployment, the
metrics Service) takes in relay pods. */}}
{{- define "maytrain.follow.relaySelector" -}}
app.kubernetes.io/name: {{ include "maytrain.name" . }}-relay
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: relay
{{- end }}

{{- define "maytrain.follow.needsStore" -}}
{{- if or (not .Values.follow.nats.enabled) .Values.follow.nats.storeFallback }}true{{ end }}
{{- end }}

{{- define "maytrain.follow.sidecarEnv" -}}
{{- with .Values.follow.nats }}
{{- if .enabled }}
- name: MAYTRAIN_FOLLOW
  value: {{ .url | quote }}
- name: MAYTRAIN_STREAM
  value: {{ .stream | quote }}
{{- end }}
{{- end }}
{{- if include "maytrain.follow.needsStore" . }}
{{ include "maytrain.sidecar.storeEnv" . }}
{{- end }}
{{- end }}

{{- define "maytrain.follow.relayContainer" -}}
{{- $relay := .Values.follow.nats.relay -}}
{{- $sc := .Values.sidecar -}}
- name: relay
  image: {{ include "maytrain.image" . | quote }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  args:
    - relay
    - --policy=/etc/maytrain/policy/policy.toml
    - --health-listen=0.0.0.0:{{ $relay.healthPort }}
    - {{ printf "--heartbeat=%v" $relay.heartbeatSeconds | quote }}
    - {{ printf "--retention=%v" $relay.retention | quote }}
    - {{ printf "--snapshot-changes=%v" $relay.snapshotChanges | quote }}
    - {{ printf "--snapshot-seconds=%v" $relay.snapshotSeconds | quote }}
    - {{ printf "--round-gap=%v" $relay.roundGapSeconds | quote }}
    {{- if $sc.snapshot.enabled }}
    - --snapshot-key-file={{ include "maytrain.sidecar.snapshotKeyDir" . }}/snapshot.key
    {{- end }}
    {{- with $sc.syncInterval }}
    - {{ printf "--sync-interval=%v" . | quote }}
    {{- end }}
    - --log-format={{ $sc.logFormat }}
    {{- with $relay.extraArgs }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  env:
    - name: MAYTRAIN_NATS
      value: {{ .Values.follow.nats.url | quote }}
    - name: MAYTRAIN_STREAM
      value: {{ .Values.follow.nats.stream | quote }}
    {{- include "maytrain.sidecar.storeEnv" . | nindent 4 }}
  ports:
    - name: health
      containerPort: {{ $relay.healthPort }}
      protocol: TCP
  {{- /* Readiness: the last round reached NATS; liveness: the process answers. */}}
  readinessProbe:
    grpc:
      port: {{ $relay.healthPort }}
      service: ""
    periodSeconds: 5
    failureThreshold: 3
  livenessProbe:
    grpc:
      port: {{ $relay.healthPort }}
      service: liveness
    periodSeconds: 10
    failureThreshold: 3
  {{- with $relay.resources }}
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
    {{- /* The snapshot is packed in /tmp before it is put: it needs the room of one. */}}
    - name: relay-tmp
      mountPath: /tmp
    {{- if $sc.snapshot.enabled }}
    - name: maytrain-snapshot-key
      mountPath: {{ include "maytrain.sidecar.snapshotKeyDir" . }}
      readOnly: true
    {{- end }}
    {{- if .Values.store.passwordSecret.name }}
    - name: maytrain-store-password
      mountPath: /var/run/secrets/maytrain/store
      readOnly: true
    {{- end }}
{{- end }}
