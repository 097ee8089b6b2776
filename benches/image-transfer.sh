#!/usr/bin/env bash
# Image transfer benchmark: the two ways of getting the host's images into N fresh dind
# engines without an internet registry (DESIGN.md, "Engines on these machines"), side by
# side in one invocation, on the same images and the same kind of engines:
#
#   A  save/load   what src/engine/images.rs does: `docker save` each image once into a
#                  tar (the tool caches it by image id), then `docker load` it into each
#                  engine; the engines load concurrently, each its images one after the
#                  other.
#   B  registry    Debian's `docker-registry` (distribution 2.x) on the docker0 bridge
#                  address, filled once from the host engine (`docker tag` + `docker
#                  push`), then every engine `docker pull`s the images (engines
#                  concurrently, each its images one after the other) and tags them back
#                  to their original names.
#
# Each repetition runs both ways, each on N engines started fresh for it (engine start
# is not timed); the order alternates between repetitions (A B, B A, ...). Prints every
# repetition, the medians, the bytes moved and the load averages (the machine is shared).
# After each way it checks that every engine has every image under its original name
# with the host's image id.
#
#   benches/image-transfer.sh [-n ENGINES] [-r REPS] [IMAGE...]
#
#   -n N       engines per way (default 3, as the demo matrix has 3 engine versions)
#   -r R       repetitions (default 2)
#   IMAGE...   default: the demo matrix's images
# Environment:
#   ENGINE_IMAGES  engine images, used in turn (default: the demo's three versions,
#                  dockmatrix/engine:20.10.24 26.1.5 28.5.2)
#   DRIVER         inner storage driver (default overlay2)
#
# Needs: the images on the host engine (scripts/setup.sh demo), `apt-get install
# docker-registry`, permission to run containers like benches/naive-run.sh does.
# Everything it creates carries io.dockmatrix.run=bench-image-transfer and is removed on
# exit, Ctrl-C included; a docker-registry service it had to stop is started again.
set -euo pipefail

label=io.dockmatrix.run=bench-image-transfer
n=3
reps=2
while getopts n:r: opt; do
  case $opt in
  n) n=$OPTARG ;;
  r) reps=$OPTARG ;;
  *) sed -n '2,/^set -e/p' "$0" | sed '$d' >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
if [ $# -gt 0 ]; then
  images=("$@")
else
  images=(dockmatrix/postgres:15 dockmatrix/postgres:17 dockmatrix/mariadb:10.11
    dockmatrix/mariadb:11.8 dockmatrix/redis:7.0 dockmatrix/redis:8.0 dockmatrix/demo-app:1)
fi
read -r -a engine_images <<<"${ENGINE_IMAGES:-dockmatrix/engine:20.10.24 dockmatrix/engine:26.1.5 dockmatrix/engine:28.5.2}"
driver=${DRIVER:-overlay2}

dind_opts=(--cap-add ALL --cap-drop SYS_RESOURCE --security-opt seccomp=unconfined
  --security-opt apparmor=unconfined --security-opt systempaths=unconfined --device /dev/fuse)

say() { echo "[$(date +%T)] $*" >&2; }
die() { say "error: $*"; exit 1; }
now() { date +%s.%N; }
since() { python3 -c 'import sys; print(f"{float(sys.argv[2]) - float(sys.argv[1]):.1f}")' "$1" "$(now)"; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

command -v docker-registry >/dev/null || die "docker-registry is missing: apt-get install -y docker-registry"
for img in "${images[@]}" "${engine_images[@]}"; do
  docker image inspect "$img" >/dev/null 2>&1 || die "image $img is not on the host engine (scripts/setup.sh demo)"
done
bridge=$(ip -4 -o addr show docker0 | awk '{ split($4, a, "/"); print a[1] }')
[ -n "$bridge" ] || die "no IPv4 address on docker0"
reg_port=5000
registry=$bridge:$reg_port

# --- cleanup: everything labelled, our registry processes, our host tags, the temp dir
work=$(mktemp -d "${TMPDIR:-/tmp}/image-transfer.XXXXXX")
reg_pids=()
host_tags=()
service_stopped=0
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  say "cleaning up"
  local ids
  ids=$(docker ps -aq --filter "label=$label")
  [ -n "$ids" ] && docker rm -f -v $ids >/dev/null
  ids=$(docker volume ls -q --filter "label=$label")
  [ -n "$ids" ] && docker volume rm $ids >/dev/null
  ids=$(docker network ls -q --filter "label=$label")
  [ -n "$ids" ] && docker network rm $ids >/dev/null
  for pid in "${reg_pids[@]}"; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
  for t in "${host_tags[@]}"; do docker rmi "$t" >/dev/null 2>&1; done
  rm -rf "$work"
  if [ $service_stopped = 1 ]; then
    say "starting the docker-registry service again"
    service docker-registry start >/dev/null 2>&1 || /etc/init.d/docker-registry start >/dev/null
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Leftovers of an earlier, killed invocation (idempotence).
ids=$(docker ps -aq --filter "label=$label"); [ -z "$ids" ] || docker rm -f -v $ids >/dev/null
ids=$(docker volume ls -q --filter "label=$label"); [ -z "$ids" ] || docker volume rm $ids >/dev/null

# The packaged service listens on :5000 (all addresses); stop it for the run if it is up.
if [ -x /etc/init.d/docker-registry ] && /etc/init.d/docker-registry status >/dev/null 2>&1; then
  say "stopping the docker-registry service for the run (started again on exit)"
  service_stopped=1
  service docker-registry stop >/dev/null 2>&1 || /etc/init.d/docker-registry stop >/dev/null
fi
if ss -Hltn "sport = :$reg_port" | grep -q .; then
  die "something already listens on port $reg_port: $(ss -Hltnp "sport = :$reg_port")"
fi

# --- engines
engines=() # "name ip"
start_engines() { # way-tag
  local tag=$1 i name img ips=() deadline
  engines=()
  for i in $(seq 0 $((n - 1))); do
    name=bench-image-transfer-$tag-$i
    img=${engine_images[$((i % ${#engine_images[@]}))]}
    docker volume create --label "$label" "$name-data" >/dev/null
    docker run -d --name "$name" --label "$label" "${dind_opts[@]}" \
      -v "$name-data:/var/lib/docker" "$img" \
      --storage-driver="$driver" --insecure-registry="$registry" >/dev/null
    engines+=("$name $(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$name")")
  done
  for e in "${engines[@]}"; do
    set -- $e
    deadline=$((SECONDS + 90))
    until docker -H "tcp://$2:2375" info >/dev/null 2>&1; do
      [ $SECONDS -lt $deadline ] || { docker logs --tail 20 "$1" >&2; die "engine $1 did not start"; }
      sleep 0.5
    done
    [ "$(docker -H "tcp://$2:2375" info --format '{{.Driver}}')" = "$driver" ] || die "engine $1 is not on $driver"
  done
  say "engines up: $(for e in "${engines[@]}"; do set -- $e; printf '%s(%s) ' "$1" "$(docker -H "tcp://$2:2375" version --format '{{.Server.Version}}')"; done)"
}
stop_engines() {
  local e
  for e in "${engines[@]}"; do
    set -- $e
    docker rm -f -v "$1" >/dev/null
    docker volume rm "$1-data" >/dev/null
  done
  engines=()
}
# Every engine has every image under its original name, with the host's image id.
verify_engines() {
  local e img want got
  for e in "${engines[@]}"; do
    set -- $e
    for img in "${images[@]}"; do
      want=$(docker image inspect -f '{{.Id}}' "$img")
      got=$(docker -H "tcp://$2:2375" image inspect -f '{{.Id}}' "$img" 2>/dev/null) || die "$img missing on $1"
      [ "$got" = "$want" ] || die "$img on $1 has id $got, the host's is $want"
    done
  done
}
# Runs FUNCTION ENGINE_NAME ENGINE_IP once per engine, all concurrently; fails if one does.
on_all_engines() { # function
  local pids=() e p rc=0
  for e in "${engines[@]}"; do
    # shellcheck disable=SC2086
    "$1" $e &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || rc=1; done
  return $rc
}

# --- way A: save once, load into each engine
load_into() { # name ip
  local img
  for img in "${images[@]}"; do
    docker -H "tcp://$2:2375" load -q -i "$work/tars/${img//[\/:]/_}.tar" >/dev/null || { say "load of $img into $1 failed"; return 1; }
  done
}
way_a() { # rep
  local t
  rm -rf "$work/tars"; mkdir -p "$work/tars"
  start_engines "a$1"
  local l0; l0=$(loadavg)
  t=$(now)
  for img in "${images[@]}"; do
    docker save -o "$work/tars/${img//[\/:]/_}.tar" "$img"
  done
  local first; first=$(since "$t")
  t=$(now)
  on_all_engines load_into || die "way A: a load failed"
  local per; per=$(since "$t")
  local l1; l1=$(loadavg)
  verify_engines
  local bytes; bytes=$(du -cb "$work"/tars/*.tar | tail -1 | cut -f1)
  stop_engines
  rm -rf "$work/tars"
  echo "$1 A $first $per $bytes $l0 $l1" >>"$work/results"
  say "rep $1 A save/load: save $first s, load $per s (wall, $n engines), $bytes bytes per engine; load avg $l0 -> $l1"
}

# --- way B: a registry filled once, pulled by each engine
start_registry() {
  rm -rf "$work/registry"; mkdir -p "$work/registry/storage"
  local addr
  # The host engine trusts only 127.0.0.0/8 as an insecure registry, and the inner
  # engines cannot reach the host's loopback: so one registry process on the bridge
  # address (pulled from) and one on 127.0.0.1 (pushed to), serving the same storage.
  for addr in "$registry" "127.0.0.1:$reg_port"; do
    cat >"$work/registry/config-${addr%%:*}.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $work/registry/storage
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: $addr
EOF
    docker-registry serve "$work/registry/config-${addr%%:*}.yml" >>"$work/registry/log" 2>&1 &
    reg_pids+=($!)
  done
  local deadline=$((SECONDS + 20))
  until curl -fsS "http://$registry/v2/" >/dev/null 2>&1 && curl -fsS "http://127.0.0.1:$reg_port/v2/" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || { cat "$work/registry/log" >&2; die "registry did not start"; }
    sleep 0.2
  done
}
stop_registry() {
  local pid
  for pid in "${reg_pids[@]}"; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; done
  reg_pids=()
  rm -rf "$work/registry"
}
pull_into() { # name ip
  local img D="docker -H tcp://$2:2375"
  for img in "${images[@]}"; do
    $D pull -q "$registry/$img" >/dev/null || { say "pull of $img into $1 failed"; return 1; }
    $D tag "$registry/$img" "$img" || return 1
  done
}
way_b() { # rep
  local t img
  start_engines "b$1"
  start_registry
  local l0; l0=$(loadavg)
  t=$(now)
  for img in "${images[@]}"; do
    docker tag "$img" "127.0.0.1:$reg_port/$img"
    host_tags+=("127.0.0.1:$reg_port/$img")
    docker push -q "127.0.0.1:$reg_port/$img" >/dev/null
  done
  local first; first=$(since "$t")
  t=$(now)
  on_all_engines pull_into || die "way B: a pull failed"
  local per; per=$(since "$t")
  local l1; l1=$(loadavg)
  verify_engines
  local bytes; bytes=$(du -sb "$work/registry/storage/docker/registry/v2/blobs" | cut -f1)
  for img in "${host_tags[@]}"; do docker rmi "$img" >/dev/null; done
  host_tags=()
  stop_engines
  stop_registry
  echo "$1 B $first $per $bytes $l0 $l1" >>"$work/results"
  say "rep $1 B registry: push $first s, pull+tag $per s (wall, $n engines), $bytes bytes in the registry; load avg $l0 -> $l1"
}

# --- the run
load_before=$(uptime)
others=$(docker ps -q | wc -l)
say "images: ${images[*]}"
say "engines: $n x ${engine_images[*]} ($driver), registry $registry; $reps repetition(s)"
say "before: $load_before; $others container(s) running on the host engine"
: >"$work/results"
for rep in $(seq 1 "$reps"); do
  if [ $((rep % 2)) = 1 ]; then way_a "$rep"; way_b "$rep"; else way_b "$rep"; way_a "$rep"; fi
done
load_after=$(uptime)
say "after: $load_after; $(docker ps -q | wc -l) container(s) running on the host engine"

python3 - "$work/results" "$n" "$load_before" "$load_after" "${images[@]}" <<'PY'
import statistics, sys
path, n, before, after, *images = sys.argv[1:]
rows = [l.split() for l in open(path)]
names = {"A": "save/load", "B": "registry"}
first_name = {"A": "save", "B": "push"}
per_name = {"A": "load", "B": "pull+tag"}
print(f"images: {' '.join(images)}")
print(f"engines: {n} per way, fresh for each way and repetition")
print()
print(f"{'rep':>3}  {'way':<10} {'first-time':>16} {'per-run (wall)':>20} {'total':>8} {'MB moved':>22}  load avg before -> after")
meds = {}
for r in rows:
    rep, way, first, per, size = r[0], r[1], float(r[2]), float(r[3]), int(r[4])
    l0, l1 = " ".join(r[5:8]), " ".join(r[8:11])
    meds.setdefault(way, []).append((first, per, size))
    mb = size / 1e6
    moved = f"{mb:.0f} x {n} = {mb * int(n):.0f}"
    print(f"{rep:>3}  {names[way]:<10} {first_name[way]:>6} {first:7.1f} s {per_name[way]:>8} {per:7.1f} s {first + per:6.1f} s {moved:>22}  {l0} -> {l1}")
print()
for way, v in sorted(meds.items()):
    f = statistics.median(x[0] for x in v)
    p = statistics.median(x[1] for x in v)
    t = statistics.median(x[0] + x[1] for x in v)
    print(f"median {names[way]:<10} {first_name[way]:>6} {f:7.1f} s {per_name[way]:>8} {p:7.1f} s {t:6.1f} s  ({len(v)} run(s))")
print()
print("MB moved: A = bytes of the saved tars (written once, read by each engine);")
print("          B = compressed blobs in the registry (shared layers stored once; an engine")
print("              skips a layer it already has), pulled by each engine.")
print(f"before: {before.strip()}")
print(f"after:  {after.strip()}")
PY
