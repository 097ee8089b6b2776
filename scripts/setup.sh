#!/usr/bin/env bash
# scripts/setup.sh — prepares a machine for dockmatrix without any container
# registry: installs and starts a Docker engine if needed, then builds the
# offline images (Debian bases made with debootstrap, engine images for dind,
# PostgreSQL, MariaDB, Redis/Valkey and the demo app), each cached by its tag.
#
#   scripts/setup.sh [--rebuild] [--jobs N] [--exclude TARGET]... [--list]
#                    [--save-images] [--matrix FILE] [TARGET...]
#
# TARGET: an image tag (dockmatrix/postgres:17), a short form (postgres:17,
# engine:28.5.2, demo-app) or a set: demo (the default), ci, upgrade, all.
# See fixtures/images/README.md for the images' contract.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
IMAGES_DIR=$REPO/fixtures/images
CACHE=${DOCKMATRIX_CACHE:-$REPO/fixtures/.cache}
LOGS=$CACHE/logs
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
DOCKERD_LOG=/var/log/dockmatrix-dockerd.log
# The demo app is built in the workspace's target folder with the `demo` profile
# (Cargo.toml), so that scripts/demo.sh's build of dockmatrix reuses its compiled
# dependencies, and the other way round. Where `cargo bench` or other builds run
# alongside (they hold the target folder's lock for minutes), give it a folder of
# its own with DOCKMATRIX_APP_TARGET_DIR.
APP_TARGET=${DOCKMATRIX_APP_TARGET_DIR:-${CARGO_TARGET_DIR:-$REPO/target}}
APP_PROFILE=demo
# The demo app's binary; DOCKMATRIX_APP_BIN names one already built (scripts/demo.sh
# compiles it together with dockmatrix, whose features cargo unifies with the app's: a
# build of the app alone would compile its shared crates again).
APP_BIN=${DOCKMATRIX_APP_BIN:-$APP_TARGET/$APP_PROFILE/dockmatrix-demo-app}
# The classic builder: Debian's docker.io has no buildx plugin, and a newer
# CLI without buildx refuses BuildKit; the classic builder is the same everywhere.
export DOCKER_BUILDKIT=0

# Packages debootstrap adds to every base (minbase has no /etc/services).
BASE_INCLUDE=netbase

# ---------------------------------------------------------------------------
# Known images. Columns: short name, kind, Debian suite, version/package arg.
# The tag is the upstream version; Debian's exact package versions go into
# labels. Other code relies on these names: change them only together.
TARGET_TABLE='
base:bullseye      base      bullseye  -
base:bookworm      base      bookworm  -
base:trixie        base      trixie    -
base:sid           base      sid       -
engine:20.10.5     engine    bullseye  20.10.5
engine:20.10.24    engine    bookworm  20.10.24
engine:26.1.5      engine    trixie    26.1.5
engine:28.5.2      engine    sid       28.5.2
postgres:13        postgres  bullseye  13
postgres:15        postgres  bookworm  15
postgres:17        postgres  trixie    17
postgres:18        postgres  sid       18
mariadb:10.5       mariadb   bullseye  10.5
mariadb:10.11      mariadb   bookworm  10.11
mariadb:11.8       mariadb   trixie    11.8
redis:6.0          redis     bullseye  6.0
redis:7.0          redis     bookworm  7.0
redis:8.0          redis     trixie    8.0
valkey:8.1         valkey    trixie    8.1
valkey:9.1         valkey    sid       9.1
demo-app:1         demo-app  bookworm  1
'
# The tool's own image (target `tool`), tagged with the crate's version.
TOOL_VERSION=$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$REPO/Cargo.toml" | head -n1)
TARGET_TABLE+="dockmatrix:$TOOL_VERSION tool bookworm $TOOL_VERSION
"
SET_demo='engine:20.10.24 engine:26.1.5 engine:28.5.2 postgres:15 postgres:17 mariadb:10.11 mariadb:11.8 redis:7.0 redis:8.0 demo-app:1'
SET_ci='engine:20.10.5 engine:20.10.24 engine:28.5.2 postgres:15 postgres:17 mariadb:10.11 mariadb:11.8 redis:7.0 redis:8.0 demo-app:1'
SET_upgrade='engine:20.10.5 engine:28.5.2 redis:6.0 redis:7.0 postgres:15 mariadb:10.11 demo-app:1'

declare -A KIND SUITE VERSION
ALL_TARGETS=()
while read -r name kind suite version; do
    [[ -n $name ]] || continue
    KIND[$name]=$kind SUITE[$name]=$suite VERSION[$name]=$version
    ALL_TARGETS+=("$name")
done <<<"$TARGET_TABLE"
SET_all="${ALL_TARGETS[*]}"

REBUILD=0

# ---------------------------------------------------------------------------
log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*"; }
die() { printf 'setup.sh: %s\n' "$*" >&2; exit 2; }
now() { date +%s; }
since() { echo "$(($(now) - $1))s"; }
tag_of() { echo "dockmatrix/$1"; }

usage() {
    sed -n '2,12s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
    cat <<EOF

Options:
  --rebuild          build even when the tag exists (a base only when named:
                     base:SUITE or all)
  --jobs N           builds running at once (default 4)
  --exclude TARGET   leave a target out (e.g. --exclude demo-app); repeatable
  --matrix FILE      build the dockmatrix/* images that a matrix uses
                     (asks 'dockmatrix images FILE')
  --list             print each known target, whether it is built, and its size
  --save-images      also save each service and app image into dockmatrix's image tar
                     cache (\$DOCKMATRIX_CACHE/images, else ~/.cache/dockmatrix/images),
                     as a run's first load into an engine would (scripts/demo.sh does
                     it while the tool compiles, so the run does not wait for it)
  team-tests         also install fixtures/team-tests (pytest + testcontainers from
                     PyPI) into a cached venv, for matrices/docker29.toml
Sets:
  demo:    $SET_demo
  ci:      $SET_ci
  upgrade: $SET_upgrade
  all:     every target below
Targets: ${ALL_TARGETS[*]}
Environment: DOCKMATRIX_CACHE (default fixtures/.cache), DEBIAN_MIRROR,
  DEBIAN_SECURITY_MIRROR, DOCKMATRIX_APP_TARGET_DIR (cargo's target folder
  for the demo app; default \$CARGO_TARGET_DIR, else target/), DOCKMATRIX_APP_BIN
  (the demo app's binary, already built: no cargo step),
  DOCKMATRIX_TOOL_BIN (target tool, the image dockmatrix/dockmatrix:VERSION: the
  binary to put in it; default a release build of this checkout).
EOF
}

# Resolves a target or set name into short target names (one per line).
resolve() {
    local arg=$1 short
    case $arg in
    demo | ci | upgrade | all)
        local var="SET_$arg"
        tr ' ' '\n' <<<"${!var}"
        return
        ;;
    esac
    short=${arg#dockmatrix/}
    [[ $short == demo-app ]] && short=demo-app:1
    [[ $short == tool || $short == dockmatrix ]] && short=dockmatrix:$TOOL_VERSION
    if [[ -z ${KIND[$short]:-} ]]; then
        echo "setup.sh: unknown target '$arg' (known: demo ci upgrade all ${ALL_TARGETS[*]})" >&2
        return 1
    fi
    echo "$short"
}

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# A short hash of everything an image is made from here (its folder in
# fixtures/images, its row of TARGET_TABLE, the base's settings; for the demo
# app its sources), kept in the label io.dockmatrix.recipe: an image whose
# recipe changed since it was built is stale and is built again.
recipe_of() {
    local short=$1 kind=${KIND[$1]} f
    {
        echo "$short $kind ${SUITE[$short]} ${VERSION[$short]}"
        case $kind in
        base)
            echo "$BASE_INCLUDE"
            sources_list "${SUITE[$short]}"
            for f in "$IMAGES_DIR"/base/*; do echo "${f##*/}"; cat "$f"; done
            ;;
        tool)
            cat "$IMAGES_DIR/tool/Dockerfile"
            # A given binary (DOCKMATRIX_TOOL_BIN) is its own recipe; else the sources.
            if [[ -n ${DOCKMATRIX_TOOL_BIN:-} ]]; then
                sha256sum <"$DOCKMATRIX_TOOL_BIN"
            else
                (cd "$REPO" && find Cargo.toml Cargo.lock build.rs src -type f | LC_ALL=C sort |
                    while read -r f; do echo "$f"; cat "$f"; done)
            fi
            ;;
        demo-app)
            cat "$IMAGES_DIR/demo-app/Dockerfile"
            # The profile it is compiled with, and that profile's settings.
            echo "profile $APP_PROFILE"
            sed -n "/^\[profile\.$APP_PROFILE\]/,/^\[/p" "$REPO/Cargo.toml"
            (cd "$REPO/fixtures/demo-app" && find . -path ./target -prune -o -type f -print | LC_ALL=C sort |
                while read -r f; do echo "$f"; cat "$f"; done)
            ;;
        *)
            local -a ARGS PKGS
            local DIR
            service_recipe "$short"
            echo "${ARGS[*]} ${PKGS[*]}"
            for f in "$DIR"/*; do echo "${f##*/}"; cat "$f"; done
            ;;
        esac
    } | sha256sum | cut -c1-16
}

# cached | stale | missing
image_state() {
    local short=$1 label
    label=$(docker image inspect -f '{{index .Config.Labels "io.dockmatrix.recipe"}}' "$(tag_of "$short")" 2>/dev/null) ||
        { echo missing; return; }
    if [[ $label == "$(recipe_of "$short")" ]]; then echo cached; else echo stale; fi
}
image_id() { docker image inspect -f '{{.Id}}' "$1" 2>/dev/null || true; }
human_size() { awk -v b="$1" 'BEGIN { printf "%.0f MB", b / 1000000 }'; }

# ---------------------------------------------------------------------------
# Step 1: a running Docker engine and debootstrap.
ensure_tools() {
    local t missing=()
    command -v dockerd >/dev/null 2>&1 && command -v docker >/dev/null 2>&1 || missing+=(docker.io)
    command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
    # `ip` finds the bridge's address where the engine names no gateway (tests/common).
    command -v ip >/dev/null 2>&1 || missing+=(iproute2)
    if ((${#missing[@]})); then
        t=$(now)
        log "installing ${missing[*]} with apt-get"
        DEBIAN_FRONTEND=noninteractive apt-get update -q
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
        log "installed ${missing[*]} in $(since "$t")"
    else
        log "docker and debootstrap are installed"
    fi
}

ensure_dockerd() {
    local t i
    if docker info >/dev/null 2>&1; then
        log "docker engine answers ($(docker version -f '{{.Server.Version}}' 2>/dev/null))"
        return
    fi
    t=$(now)
    log "starting dockerd in the background (log: $DOCKERD_LOG)"
    # A subshell and setsid: dockerd is no job of this script, outlives it,
    # and is in no process group a Ctrl-C here would reach.
    (setsid nohup dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &)
    for ((i = 0; i < 60; i++)); do
        if docker info >/dev/null 2>&1; then
            log "docker engine answers after $(since "$t")"
            return
        fi
        sleep 1
    done
    echo "setup.sh: dockerd did not answer within 60 s; last lines of $DOCKERD_LOG:" >&2
    tail -n 20 "$DOCKERD_LOG" >&2 || true
    exit 3
}

# ---------------------------------------------------------------------------
# Builders. Each runs in a background subshell with its output in its log.

sources_list() {
    local suite=$1
    echo "deb $MIRROR $suite main"
    if [[ $suite != sid ]]; then
        echo "deb $MIRROR $suite-updates main"
        echo "deb $SECURITY_MIRROR $suite-security main"
    fi
}

# Unmounts whatever debootstrap left mounted below DIR, then removes DIR.
remove_rootfs() {
    local dir=$1 m
    [[ -e $dir ]] || return 0
    # Deepest mounts first.
    while read -r m; do
        umount -l "$m" 2>/dev/null || true
    done < <(awk -v d="$dir/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r)
    rm -rf --one-file-system "$dir"
}

build_base() {
    local short=$1 suite=${SUITE[$1]} tag dir id
    tag=$(tag_of "$short")
    dir=$CACHE/rootfs-$suite
    # Expanded now: the trap runs after this function's locals are gone.
    trap "remove_rootfs '$dir'" EXIT
    remove_rootfs "$dir"
    # dpkg and apt settings go in before debootstrap's second stage, so that
    # dpkg already leaves out documentation while it installs.
    install -D -m 0644 "$IMAGES_DIR/base/dpkg-nodoc" "$dir/etc/dpkg/dpkg.cfg.d/dockmatrix-nodoc"
    install -D -m 0644 "$IMAGES_DIR/base/dpkg-unsafe-io" "$dir/etc/dpkg/dpkg.cfg.d/dockmatrix-unsafe-io"
    install -D -m 0644 "$IMAGES_DIR/base/apt-dockmatrix" "$dir/etc/apt/apt.conf.d/90dockmatrix"
    debootstrap --variant=minbase --include="$BASE_INCLUDE" "$suite" "$dir" "$MIRROR"
    install -m 0755 "$IMAGES_DIR/base/policy-rc.d" "$dir/usr/sbin/policy-rc.d"
    sources_list "$suite" >"$dir/etc/apt/sources.list"
    # What the first stage unpacked before the dpkg excludes applied.
    find "$dir/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
    find "$dir/usr/share/doc" -mindepth 1 -type d -empty -delete
    find "$dir/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
    rm -rf "$dir"/usr/share/{man,info,groff,lintian,linda}/*
    rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/*.bin "$dir"/var/cache/apt/archives/*.deb
    rm -rf "$dir"/tmp/* "$dir"/var/tmp/* "$dir"/dev/*
    find "$dir/var/log" -type f -delete
    # Docker provides these at run time.
    rm -f "$dir/etc/hostname" "$dir/etc/resolv.conf"
    : >"$dir/etc/machine-id"
    echo "rootfs: $(du -sh "$dir" | cut -f1)"
    id=$(tar --numeric-owner -C "$dir" -c . | docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'CMD ["bash"]' \
        --message "debootstrap --variant=minbase --include=$BASE_INCLUDE $suite" -)
    echo "imported $id"
    remove_rootfs "$dir"
    label_image "$short" "$id" base-files
}

# Builds fixtures/images/KIND/Dockerfile for a service or engine target.
# Sets ARGS (docker build arguments), PKGS (packages whose versions become
# labels) and DIR (the recipe folder) for a service or engine target.
service_recipe() {
    local short=$1 kind=${KIND[$1]} suite=${SUITE[$1]} version=${VERSION[$1]}
    ARGS=(--build-arg "SUITE=$suite")
    DIR=$IMAGES_DIR/$kind
    case $kind in
    engine)
        PKGS=(docker.io containerd runc tini fuse-overlayfs iptables)
        case $suite in
        bullseye | bookworm) ;;
        trixie) ARGS+=(--build-arg EXTRA_PACKAGES=docker-cli) ;;
        *) ARGS+=(--build-arg "EXTRA_PACKAGES=docker-cli systemd-standalone-sysusers") ;;
        esac
        ;;
    postgres)
        ARGS+=(--build-arg "PG_MAJOR=$version")
        PKGS=("postgresql-$version")
        ;;
    mariadb) PKGS=(mariadb-server) ;;
    redis | valkey)
        DIR=$IMAGES_DIR/redis
        ARGS+=(--build-arg "SERVER_PACKAGE=$kind-server" --build-arg "SERVER=$kind-server"
            --build-arg "SERVER_USER=$kind")
        PKGS=("$kind-server")
        ;;
    esac
}

# Builds fixtures/images/KIND/Dockerfile for a service or engine target.
build_service() {
    local short=$1 iid=$CACHE/tmp/${1//[:\/]/_}.iid
    local -a ARGS PKGS
    local DIR
    service_recipe "$short"
    mkdir -p "$CACHE/tmp"
    rm -f "$iid"
    # --rebuild means fresh packages too, not the builder's cached layers.
    ((REBUILD)) && ARGS+=(--no-cache)
    docker build --force-rm --iidfile "$iid" "${ARGS[@]}" "$DIR"
    label_image "$short" "$(cat "$iid")" "${PKGS[@]}"
}

build_app_binary() {
    [[ -n ${DOCKMATRIX_APP_BIN:-} ]] && { ls -l "$DOCKMATRIX_APP_BIN"; return; }
    cd "$REPO"
    # Not niced: on a fresh machine this compile is the longest single job.
    cargo build --profile "$APP_PROFILE" -p dockmatrix-demo-app --target-dir "$APP_TARGET"
    ls -l "$APP_TARGET/$APP_PROFILE/dockmatrix-demo-app"
}

# The tool's binary: DOCKMATRIX_TOOL_BIN when given (a test passes its debug build), else
# a release build.
build_tool_binary() {
    [[ -n ${DOCKMATRIX_TOOL_BIN:-} ]] && { ls -l "$DOCKMATRIX_TOOL_BIN"; return; }
    cd "$REPO"
    cargo build --release --locked --bin dockmatrix
    ls -l "$REPO/target/release/dockmatrix"
}

build_tool() {
    local short=$1 ctx iid=$CACHE/tmp/tool.iid missing
    local bin=${DOCKMATRIX_TOOL_BIN:-$REPO/target/release/dockmatrix}
    mkdir -p "$CACHE/tmp"
    ctx=$(mktemp -d "$CACHE/tmp/tool-ctx.XXXXXX")
    trap "rm -rf '$ctx'" EXIT
    cp "$bin" "$ctx/dockmatrix"
    cp "$IMAGES_DIR/tool/Dockerfile" "$ctx/"
    rm -f "$iid"
    docker build --force-rm --iidfile "$iid" "$ctx"
    missing=$(docker run --rm --network none --entrypoint ldd "$(cat "$iid")" \
        /usr/local/bin/dockmatrix | grep 'not found' || true)
    if [[ -n $missing ]]; then
        echo "dockmatrix needs libraries the image lacks:" >&2
        echo "$missing" >&2
        return 1
    fi
    label_image "$short" "$(cat "$iid")" libc6 -- "io.dockmatrix.package.dockmatrix=$TOOL_VERSION"
}

build_demo_app() {
    local short=$1 ctx iid=$CACHE/tmp/demo-app.iid missing
    mkdir -p "$CACHE/tmp"
    ctx=$(mktemp -d "$CACHE/tmp/demo-app-ctx.XXXXXX")
    trap "rm -rf '$ctx'" EXIT
    cp "$APP_BIN" "$IMAGES_DIR/demo-app/Dockerfile" "$ctx/"
    rm -f "$iid"
    docker build --force-rm --iidfile "$iid" "$ctx"
    # The binary was linked on the host: make sure the image can load it.
    missing=$(docker run --rm --network none --entrypoint ldd "$(cat "$iid")" \
        /usr/local/bin/dockmatrix-demo-app | grep 'not found' || true)
    if [[ -n $missing ]]; then
        echo "the demo app needs libraries the image lacks:" >&2
        echo "$missing" >&2
        return 1
    fi
    local version
    version=$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$REPO/fixtures/demo-app/Cargo.toml" | head -n1)
    label_image "$short" "$(cat "$iid")" libc6 -- "io.dockmatrix.package.dockmatrix-demo-app=$version"
}

# Upstream version of a Debian version: no epoch, no Debian revision or suffix.
upstream_version() { local v=${1#*:}; echo "${v%%[-+~]*}"; }

# label_image SHORT IMAGE_ID PACKAGE... [-- EXTRA_LABEL...]
# Reads the packages' exact versions with dpkg-query inside the built image,
# checks them against the tag, and tags SHORT as IMAGE_ID plus the labels.
label_image() {
    local short=$1 id=$2 tag old pkg ver up
    shift 2
    local -a pkgs=() extra=() labels
    while (($#)); do
        [[ $1 == -- ]] && { shift; extra=("$@"); break; }
        pkgs+=("$1")
        shift
    done
    tag=$(tag_of "$short")
    old=$(image_id "$tag")
    labels=(--label "io.dockmatrix.image=$tag" --label "io.dockmatrix.kind=${KIND[$short]}"
        --label "io.dockmatrix.suite=${SUITE[$short]}" --label "io.dockmatrix.recipe=$(recipe_of "$short")")
    declare -A have=()
    while IFS=$'\t' read -r pkg ver; do
        have[$pkg]=$ver
    done < <(docker run --rm --network none --entrypoint dpkg-query "$id" \
        -W -f '${db:Status-Abbrev}\t${Package}\t${Version}\n' | awk -F'\t' '$1 ~ /^ii/ { print $2 "\t" $3 }')
    for pkg in "${pkgs[@]}"; do
        ver=${have[$pkg]:-}
        if [[ -z $ver ]]; then
            echo "package $pkg is not installed in the image" >&2
            return 1
        fi
        # Labels name the product, not Debian's versioned package name.
        case $pkg in
        postgresql-[0-9]*) labels+=(--label "io.dockmatrix.package.postgresql=$ver") ;;
        *) labels+=(--label "io.dockmatrix.package.$pkg=$ver") ;;
        esac
        echo "package $pkg $ver"
    done
    # The tag promises an upstream version: refuse to lie when Debian moved on.
    local version=${VERSION[$short]} main=
    case ${KIND[$short]} in
    engine) main=docker.io ;;
    mariadb) main=mariadb-server ;;
    redis) main=redis-server ;;
    valkey) main=valkey-server ;;
    esac
    if [[ -n $main ]]; then
        up=$(upstream_version "${have[$main]}")
        if [[ $up != "$version" && $up != "$version".* ]]; then
            echo "suite ${SUITE[$short]} now has $main $up, which is not $version:" \
                "update TARGET_TABLE in scripts/setup.sh (and the image's users)" >&2
            return 1
        fi
    fi
    local l
    for l in "${extra[@]}"; do labels+=(--label "$l"); done
    printf 'FROM %s\n' "$id" | docker build -q "${labels[@]}" -t "$tag" - >/dev/null
    # A rebuild leaves the previous image untagged: remove it (if nothing uses it).
    if [[ -n $old && $old != "$(image_id "$tag")" ]]; then
        docker rmi "$old" >/dev/null 2>&1 || true
    fi
    echo "tagged $tag: $(image_id "$tag")"
    docker image inspect -f '{{range $k, $v := .Config.Labels}}{{$k}}={{$v}}{{"\n"}}{{end}}' "$tag"
}

run_job() {
    local job=$1
    case $job in
    app-binary) build_app_binary ;;
    tool-binary) build_tool_binary ;;
    *)
        case ${KIND[$job]} in
        base) build_base "$job" ;;
        demo-app) build_demo_app "$job" ;;
        tool) build_tool "$job" ;;
        *) build_service "$job" ;;
        esac
        ;;
    esac
}

# ---------------------------------------------------------------------------
# Scheduler: jobs start when their dependencies are done, at most JOBS at once.
declare -A STATE DEPS STARTED PIDJOB FINISHED_IN
JOB_ORDER=()
FAILED=()

add_job() { # add_job NAME DEP...
    local job=$1
    shift
    [[ -n ${STATE[$job]:-} ]] && return
    STATE[$job]=pending
    DEPS[$job]="$*"
    JOB_ORDER+=("$job")
}

timestamp_lines() {
    local line
    while IFS= read -r line; do printf '%(%H:%M:%S)T %s\n' -1 "$line"; done
}

job_log() { echo "$LOGS/${1//[:\/]/_}.log"; }

kill_tree() {
    local pid=$1 child
    for child in $(pgrep -P "$pid" 2>/dev/null || true); do kill_tree "$child"; done
    kill -TERM "$pid" 2>/dev/null || true
}

on_interrupt() {
    local pid
    trap - INT TERM
    echo "setup.sh: interrupted; stopping running builds" >&2
    for pid in "${!PIDJOB[@]}"; do kill_tree "$pid"; done
    wait 2>/dev/null || true
    local s
    for s in bullseye bookworm trixie sid; do remove_rootfs "$CACHE/rootfs-$s"; done
    exit 130
}

run_scheduler() {
    local running=0 job dep blocked ready rc pid
    trap on_interrupt INT TERM
    while :; do
        for job in "${JOB_ORDER[@]}"; do
            [[ ${STATE[$job]} == pending ]] || continue
            ready=1 blocked=
            for dep in ${DEPS[$job]}; do
                case ${STATE[$dep]} in
                done | cached) ;;
                failed | skipped) blocked=$dep ;;
                *) ready=0 ;;
                esac
            done
            if [[ -n $blocked ]]; then
                STATE[$job]=skipped
                FAILED+=("$job (not built: $blocked failed)")
                log "xx  $job not built: it needs $blocked, which failed"
                continue
            fi
            ((ready && running < JOBS)) || continue
            STATE[$job]=running
            STARTED[$job]=$(now)
            (
                trap - INT TERM
                exec > >(timestamp_lines >"$(job_log "$job")") 2>&1
                stamper=$!
                set +e
                (
                    set -ex
                    run_job "$job"
                )
                rc=$?
                # Let the log be complete before the scheduler reads it.
                exec >&- 2>&-
                wait "$stamper"
                exit "$rc"
            ) &
            PIDJOB[$!]=$job
            running=$((running + 1))
            log "==> $job: building (log: $(job_log "$job"))"
        done
        ((running)) || break
        rc=0
        wait -n -p pid || rc=$?
        job=${PIDJOB[$pid]:-}
        [[ -n $job ]] || continue
        unset "PIDJOB[$pid]"
        running=$((running - 1))
        FINISHED_IN[$job]=$(since "${STARTED[$job]}")
        if ((rc == 0)); then
            STATE[$job]=done
            log "<== $job: built in ${FINISHED_IN[$job]}"
        else
            STATE[$job]=failed
            FAILED+=("$job (exit $rc after ${FINISHED_IN[$job]})")
            log "!!  $job: FAILED after ${FINISHED_IN[$job]} (exit $rc; log: $(job_log "$job"))"
        fi
    done
    trap - INT TERM
}

# dockmatrix's image tar cache (src/engine/images.rs, cache_dir and cached_tar): a run
# loads each image into its engines from `<image id without sha256:>.tar` there, and
# saves the file on first use when it is missing. Saving ahead is the same file, made by
# the same API call (`docker save` is GET /images/NAME/get), written aside and renamed.
tool_image_cache() { echo "${DOCKMATRIX_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dockmatrix}/images"; }

# Saves the images an engine under test loads (services and the app; not bases, engines
# or the tool) into that cache, each unless its file is there.
save_images() {
    local dir short tag id file t n=0
    dir=$(tool_image_cache)
    mkdir -p "$dir"
    t=$(now)
    for short in "$@"; do
        case ${KIND[$short]} in base | engine | tool) continue ;; esac
        tag=$(tag_of "$short")
        id=$(image_id "$tag")
        [[ -n $id ]] || continue
        file=$dir/${id#sha256:}.tar
        [[ -f $file ]] && continue
        docker save "$tag" >"$file.setup.$$.partial" && mv "$file.setup.$$.partial" "$file" || {
            rm -f "$file.setup.$$.partial"
            die "saving $tag into $dir failed"
        }
        n=$((n + 1))
    done
    log "saved $n image(s) into $dir in $(since "$t")"
}

# ---------------------------------------------------------------------------
list_targets() {
    local short tag size state
    printf '%-28s %-9s %-9s %-8s %s\n' TARGET KIND SUITE BUILT SIZE
    for short in "${ALL_TARGETS[@]}"; do
        tag=$(tag_of "$short")
        state=$(image_state "$short")
        case $state in
        cached) state=yes ;;
        missing) state=no ;;
        esac
        size=$(docker image inspect -f '{{.Size}}' "$tag" 2>/dev/null) && size=$(human_size "$size") || size=-
        printf '%-28s %-9s %-9s %-8s %s\n' "$tag" "${KIND[$short]}" "${SUITE[$short]}" "$state" "$size"
    done
    echo "(stale: built, but its recipe in fixtures/images changed since; the next build of it rebuilds it)"
    echo
    echo "sets: demo = $SET_demo"
    echo "      ci = $SET_ci"
    echo "      upgrade = $SET_upgrade"
    echo "      all = every target above"
}

# Image refs a matrix uses, from the dockmatrix binary (one per line).
matrix_targets() {
    local file=$1 refs ref
    if [[ -x $REPO/target/debug/dockmatrix ]]; then
        refs=$("$REPO/target/debug/dockmatrix" images "$file") || return 1
    elif command -v dockmatrix >/dev/null 2>&1; then
        refs=$(dockmatrix images "$file") || return 1
    else
        refs=$(cd "$REPO" && cargo run -q -- images "$file") || return 1
    fi
    for ref in $refs; do
        case $ref in
        dockmatrix/*) echo "$ref" ;;
        *) echo "setup.sh: $ref is not built by this script (not a dockmatrix/ image)" >&2 ;;
        esac
    done
}

# fixtures/team-tests (pytest with testcontainers) in a venv of its own under the cache,
# installed from PyPI once: a second call with the same requirements does nothing.
ensure_team_tests() {
    local venv=$CACHE/team-tests-venv req=$REPO/fixtures/team-tests/requirements.txt stamp
    stamp=$(sha256sum "$req" | cut -c1-16)
    if [[ -x $venv/bin/python && $(cat "$venv/.stamp" 2>/dev/null) == "$stamp" ]]; then
        log "team-tests: cached ($venv)"
        return
    fi
    command -v python3 >/dev/null || die "team-tests needs python3 (apt-get install python3 python3-venv)"
    log "team-tests: installing $(grep -cv '^#' "$req") packages into $venv"
    rm -rf "$venv"
    python3 -m venv "$venv" || die "python3 -m venv failed (apt-get install python3-venv)"
    "$venv/bin/pip" install -q -r "$req" || die "pip install -r $req failed"
    mkdir -p "$CACHE/team-tests"
    echo "$stamp" >"$venv/.stamp"
    log "team-tests: ready"
}

main() {
    local list=0 t0 arg short
    local -a args=() excludes=() matrices=()
    JOBS=4
    while (($#)); do
        case $1 in
        --rebuild) REBUILD=1 ;;
        --jobs | -j)
            [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || die "--jobs needs a positive number"
            JOBS=$2
            shift
            ;;
        --jobs=*) JOBS=${1#--jobs=} ;;
        --exclude)
            [[ -n ${2:-} ]] || die "--exclude needs a target"
            excludes+=("$2")
            shift
            ;;
        --matrix)
            [[ -n ${2:-} ]] || die "--matrix needs a file"
            matrices+=("$2")
            shift
            ;;
        --list) list=1 ;;
        --save-images) SAVE_IMAGES=1 ;;
        --resolve)
            # For other scripts: the image tags a target or set stands for.
            resolve "${2:-}" | sed 's|^|dockmatrix/|'
            exit "${PIPESTATUS[0]}"
            ;;
        -h | --help)
            usage
            exit 0
            ;;
        -*) die "unknown option $1 (see --help)" ;;
        team-tests) TEAM_TESTS=1 ;;
        *) args+=("$1") ;;
        esac
        shift
    done
    [[ $JOBS =~ ^[1-9][0-9]*$ ]] || die "--jobs needs a positive number"

    t0=$(now)
    ensure_tools
    ensure_dockerd
    if ((list)); then
        list_targets
        return
    fi

    for arg in "${matrices[@]}"; do
        [[ -f $arg ]] || die "no matrix file $arg"
        local refs
        refs=$(matrix_targets "$arg") || die "could not list the images of $arg (dockmatrix images failed)"
        [[ -n $refs ]] && mapfile -t -O "${#args[@]}" args <<<"$refs"
    done
    if ((${TEAM_TESTS:-0})); then
        ensure_team_tests
        ((${#args[@]} || ${#matrices[@]})) || return 0
    fi
    ((${#args[@]} || ${#matrices[@]})) || args=(demo)

    local -A wanted=() excluded=()
    local -a targets=()
    for arg in "${excludes[@]}"; do
        for short in $(resolve "$arg") ; do excluded[$short]=1; done
    done
    for arg in "${args[@]}"; do
        local resolved
        resolved=$(resolve "$arg") || exit 2
        for short in $resolved; do
            [[ -n ${wanted[$short]:-} || -n ${excluded[$short]:-} ]] && continue
            wanted[$short]=1
            targets+=("$short")
        done
    done
    if ((${#targets[@]} == 0)); then
        log "nothing to build"
        return
    fi
    mkdir -p "$LOGS" "$CACHE/tmp"

    # Plan: what is cached, what must be built, and the bases those need.
    local base cached=() state
    for short in "${targets[@]}"; do
        state=$(image_state "$short")
        if ((!REBUILD)) && [[ $state == cached ]]; then
            cached+=("$short")
            STATE[$short]=cached
            continue
        fi
        [[ $state == stale ]] && log "    $(tag_of "$short"): stale (its recipe changed since it was built)"
        local deps=()
        if [[ ${KIND[$short]} != base ]]; then
            base=base:${SUITE[$short]}
            # A base is rebuilt only when it is asked for itself (base:SUITE,
            # all) or is stale: rebuilding it for one image would make that
            # image share no layer with its siblings (inner engines then load
            # the base twice).
            if [[ -z ${STATE[$base]:-} ]]; then
                state=$(image_state "$base")
                if { ((!REBUILD)) || [[ -z ${wanted[$base]:-} ]]; } && [[ $state == cached ]]; then
                    STATE[$base]=cached
                    cached+=("$base")
                else
                    [[ $state == stale ]] && log "    $(tag_of "$base"): stale (its recipe changed since it was built)"
                    add_job "$base"
                fi
            fi
            deps+=("$base")
        fi
        if [[ ${KIND[$short]} == demo-app ]]; then
            add_job app-binary
            deps+=(app-binary)
        fi
        if [[ ${KIND[$short]} == tool ]]; then
            add_job tool-binary
            deps+=(tool-binary)
        fi
        add_job "$short" "${deps[@]}"
    done
    for short in "${cached[@]}"; do log "    $(tag_of "$short"): cached"; done

    local tb
    tb=$(now)
    if ((${#JOB_ORDER[@]})); then
        log "building ${#JOB_ORDER[@]} job(s), at most $JOBS at once: ${JOB_ORDER[*]}"
        run_scheduler
        log "builds finished in $(since "$tb")"
    fi

    echo
    printf '%-28s %-8s %-10s %s\n' IMAGE RESULT TIME SIZE
    local -A shown=()
    for short in "${JOB_ORDER[@]}" "${cached[@]}"; do
        [[ $short == app-binary || $short == tool-binary || -n ${shown[$short]:-} ]] && continue
        shown[$short]=1
        local tag size result
        tag=$(tag_of "$short")
        result=${STATE[$short]}
        [[ $result == done ]] && result=built
        size=$(docker image inspect -f '{{.Size}}' "$tag" 2>/dev/null) && size=$(human_size "$size") || size=-
        printf '%-28s %-8s %-10s %s\n' "$tag" "$result" "${FINISHED_IN[$short]:--}" "$size"
    done
    echo
    if ((${#FAILED[@]})); then
        local f job
        for f in "${FAILED[@]}"; do
            job=${f%% *}
            [[ ${STATE[$job]} == failed ]] || continue
            echo "---- last lines of $(job_log "$job") ----" >&2
            tail -n 30 "$(job_log "$job")" >&2 || true
        done
        echo "setup.sh: FAILED: ${FAILED[*]}" >&2
        log "total $(since "$t0")"
        exit 1
    fi
    ((${SAVE_IMAGES:-0})) && save_images "${targets[@]}"
    log "done in $(since "$t0")"
}

# On one line: bash reads a script as it runs, and this file may change meanwhile.
main "$@"; exit
