#!/usr/bin/env bash
# The plain script a QA engineer would write without dockmatrix (docker CLI only), used
# as the baseline of benches/whole-run.sh. For each cell of the demo matrix, in turn: start
# a dind engine with the cell's storage driver, load the images into it, start the
# services, poll their readiness, run one check per service, tear down.
#
#   benches/naive-run.sh CELLS.json     # `dockmatrix plan --format json` output
set -uo pipefail
cells_json=$1
pass=0 fail=0 unsupported=0

dind_opts=(--cap-add ALL --cap-drop SYS_RESOURCE --security-opt seccomp=unconfined
  --security-opt apparmor=unconfined --security-opt systempaths=unconfined --device /dev/fuse)

wait_for() { # seconds, command...
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -ge $deadline ] && return 1
    sleep 1
  done
}

n=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["cells"]))' "$cells_json")
for i in $(seq 0 $((n - 1))); do
  read -r engine driver pg maria redis < <(python3 -c '
import json,sys
c=json.load(open(sys.argv[1]))["cells"][int(sys.argv[2])]["values"]
print(c["engine"], c["storage-driver"], c["postgres"], c["mariadb"], c["redis"])' "$cells_json" "$i")
  name=naive-$i
  echo "cell $i: engine $engine $driver pg $pg mariadb $maria redis $redis" >&2
  docker volume create --label io.dockmatrix.run=naive-bench "$name-data" >/dev/null
  docker run -d --name "$name" --label io.dockmatrix.run=naive-bench "${dind_opts[@]}" \
    -v "$name-data:/var/lib/docker" "dockmatrix/engine:$engine" --storage-driver="$driver" >/dev/null
  ip=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$name")
  D="docker -H tcp://$ip:2375"
  if ! wait_for 60 $D info; then
    echo "  engine did not start (unsupported?)" >&2
    unsupported=$((unsupported + 1))
    docker rm -f "$name" >/dev/null; docker volume rm "$name-data" >/dev/null
    continue
  fi
  for img in "dockmatrix/postgres:$pg" "dockmatrix/mariadb:$maria" "dockmatrix/redis:$redis" dockmatrix/demo-app:1; do
    docker save "$img" | $D load -q >/dev/null
  done
  $D network create stack >/dev/null
  $D run -d --name postgres --network stack -e POSTGRES_PASSWORD=demo-secret "dockmatrix/postgres:$pg" >/dev/null
  $D run -d --name mariadb --network stack -e MYSQL_ROOT_PASSWORD=demo-secret -e MYSQL_DATABASE=demo "dockmatrix/mariadb:$maria" >/dev/null
  $D run -d --name redis --network stack "dockmatrix/redis:$redis" >/dev/null
  ok=1
  wait_for 120 $D exec postgres pg_isready -h 127.0.0.1 -U postgres || ok=0
  wait_for 120 $D exec mariadb mariadb-admin -uroot -pdemo-secret ping || ok=0
  wait_for 120 $D exec redis redis-cli ping || ok=0
  $D run -d --name app --network stack \
    -e PG_URL=postgres://postgres:demo-secret@postgres:5432/postgres \
    -e MYSQL_URL=mysql://root:demo-secret@mariadb:3306/demo -e REDIS_URL=redis://redis:6379/0 \
    dockmatrix/demo-app:1 >/dev/null
  health='exec 3<>/dev/tcp/127.0.0.1/8080; printf "GET /health HTTP/1.0\r\n\r\n" >&3; head -1 <&3 | grep -q " 200 "'
  wait_for 120 $D exec app bash -c "$health" || ok=0
  # one check per service
  $D exec -e PGPASSWORD=demo-secret postgres psql -h 127.0.0.1 -U postgres -tAc 'select 1' | grep -q 1 || ok=0
  $D exec mariadb mariadb -uroot -pdemo-secret -e 'select 1' >/dev/null || ok=0
  $D exec redis redis-cli set k v >/dev/null && $D exec redis redis-cli get k | grep -q v || ok=0
  $D exec app bash -c "$health" || ok=0
  if [ $ok = 1 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
  docker rm -f "$name" >/dev/null
  docker volume rm "$name-data" >/dev/null
done
echo "naive: $pass pass, $fail fail, $unsupported unsupported" >&2
