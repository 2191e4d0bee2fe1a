# Sourced by the fault scripts that start `juniper serve --listen 127.0.0.1:0`: the kernel picks
# the port when serve binds (no window for another program to take it) and serve prints it.
# serve_port OUT: the port serve printed to the file OUT, once /web/health answers there
# (at most 10 s; empty when it never did).
serve_port() {
  local port= _
  for _ in $(seq 100); do
    port=$(sed -n 's|^juniper serving on http://127.0.0.1:\([0-9]*\)$|\1|p' "$1")
    [ -n "$port" ] && curl -fs "http://127.0.0.1:$port/web/health" >/dev/null 2>&1 && break
    sleep 0.1
  done
  echo "$port"
}
