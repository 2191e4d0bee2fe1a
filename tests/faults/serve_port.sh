# Sourced by the fault scripts that start `juniper serve --listen 127.0.0.1:0`: the kernel picks
# the port when serve binds (no window for another program to take it) and serve prints it.
# serve_port OUT [PID]: the port serve printed to the file OUT, once /web/health answers there
# (at most 10 s, or until process PID has ended; empty when it never did).
serve_port() {
  local port= _
  for _ in $(seq 100); do
    port=$(sed -n 's|^juniper serving on http://127.0.0.1:\([0-9]*\)$|\1|p' "$1")
    [ -n "$port" ] && curl -fs "http://127.0.0.1:$port/web/health" >/dev/null 2>&1 && break
    # Ended (a zombie too: kill -0 would still succeed until the parent waits for it).
    [ -n "${2:-}" ] && [ "$(cut -d' ' -f3 "/proc/$2/stat" 2>/dev/null || echo Z)" = Z ] && { port=; break; }
    sleep 0.1
  done
  echo "$port"
}
