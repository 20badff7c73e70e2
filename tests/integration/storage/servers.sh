# Sourced by the storage tests: start real servers on free loopback ports, stop them by
# pid on exit. Each start_* sets a URL variable and registers its pid in $server_pids.
# Needs: $tmp (the test's folder) and a trap that calls stop_servers.
server_pids=()

# free_port: print a free TCP port on 127.0.0.1 (bind port 0, read it back).
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_port PORT [SECONDS]: wait until something listens on 127.0.0.1:PORT.
wait_port() {
	python3 - "$1" "${2:-20}" <<'PY'
import socket, sys, time
port, limit = int(sys.argv[1]), float(sys.argv[2])
end = time.time() + limit
while time.time() < end:
    try:
        socket.create_connection(("127.0.0.1", port), 0.5).close(); sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(1)
PY
}

stop_servers() {
	local p
	for p in "${server_pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${server_pids[@]}"; do wait "$p" 2>/dev/null || true; done
	server_pids=()
}

# start_nginx DIR: WebDAV at $dav_url (http://127.0.0.1:PORT), files under DIR/dav,
# HTTP Basic authentication as $dav_user / $dav_password (exported for Coffer).
dav_user=coffer
dav_password=dav-pass-$RANDOM$RANDOM
export COFFER_WEBDAV_USER=$dav_user COFFER_WEBDAV_PASSWORD=$dav_password
start_nginx() {
	local dir=$1 port
	port=$(free_port)
	mkdir -p "$dir/dav" "$dir/tmp"
	printf '%s:{PLAIN}%s\n' "$dav_user" "$dav_password" >"$dir/htpasswd"
	sed -e "s|@DIR@|$dir|g" -e "s|@PORT@|$port|g" "$storage_dir/nginx.conf.in" >"$dir/nginx.conf"
	nginx -c "$dir/nginx.conf" -p "$dir" 2>"$dir/start.log" &
	nginx_pid=$!
	server_pids+=("$nginx_pid")
	wait_port "$port" || { echo "nginx did not start: $(cat "$dir/start.log" "$dir/error.log" 2>/dev/null)" >&2; return 1; }
	dav_port=$port
	dav_url="http://127.0.0.1:$port"
}

# find_s3rver: the s3rver binary installed by scripts/install-deps.sh.
find_s3rver() {
	local root=${CF_SOURCE_ROOT:-$(cd "$storage_dir/../../.." && pwd)}
	s3rver_bin=$root/tests/integration/storage/node_modules/.bin/s3rver
	[ -x "$s3rver_bin" ] || { echo "s3rver is missing: run scripts/install-deps.sh" >&2; return 1; }
}

# make_cert DIR: a self-signed certificate for 127.0.0.1 in DIR/cert.pem, key DIR/key.pem
make_cert() {
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$1/key.pem" -out "$1/cert.pem" -days 2 \
		-subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" >/dev/null 2>&1
}

# start_s3rver DIR BUCKET [tls]: S3 at $s3_url (http://127.0.0.1:PORT, or https:// with
# the certificate DIR/cert.pem when "tls" is given), path style.
start_s3rver() {
	local dir=$1 bucket=$2 port scheme=http tls=()
	find_s3rver || return 1
	port=$(free_port)
	mkdir -p "$dir/data"
	if [ "${3:-}" = tls ]; then
		make_cert "$dir" || { echo "openssl could not make a certificate" >&2; return 1; }
		tls=(--key "$dir/key.pem" --cert "$dir/cert.pem")
		scheme=https
	fi
	"$s3rver_bin" -d "$dir/data" -a 127.0.0.1 -p "$port" --configure-bucket "$bucket" -s "${tls[@]}" \
		>"$dir/s3rver.log" 2>&1 &
	s3rver_pid=$!
	server_pids+=("$s3rver_pid")
	wait_port "$port" 30 || { echo "s3rver did not start: $(cat "$dir/s3rver.log")" >&2; return 1; }
	s3_port=$port
	s3_url="$scheme://127.0.0.1:$port"
}
