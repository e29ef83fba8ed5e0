#!/usr/bin/env bash
# Load benchmark of a running replica with real load tools: wrk over REST (HTTP/1.1, JSON transcoding) and h2load
# over gRPC (HTTP/2), Recommend next to the trivial GetModelInfo, rounds interleaved so a drifting machine affects
# both alike. Prints requests/s, latency and the Recommend / GetModelInfo throughput ratio per transport.
#
#   rec bench bundle --models /tmp/m1m                      # 1M tracks x 64 factors, 100k users u0..u99999
#   Serilog__MinimumLevel__Default=Warning rec serve --models /tmp/m1m &
#   deploy/load/run.sh                                      # ROUNDS=3 SECONDS_PER_RUN=10 by default
#
# REST users vary (u<i * 7919 mod USERS>, requests pre-built so wrk's cost per request equals the trivial RPC's);
# gRPC asks for one user (USER_ID), since h2load sends one fixed body. CONNECTIONS is wrk's; h2load uses 4 x 16 streams.
# Needs wrk, h2load and curl (apt-get install -y wrk nghttp2-client curl).
set -euo pipefail
export LC_ALL=C # lengths below count bytes, not characters

REST=${REST:-http://127.0.0.1:8080}
GRPC=${GRPC:-http://127.0.0.1:8081}
USERS=${USERS:-100000}
USER_ID=${USER_ID:-u4242}
ROUNDS=${ROUNDS:-3}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
CONNECTIONS=${CONNECTIONS:-16}

for tool in wrk h2load curl; do
  command -v "$tool" >/dev/null || { echo "run.sh: $tool not found (apt-get install -y wrk nghttp2-client curl)" >&2; exit 2; }
done
curl -sf "$REST/readyz" >/dev/null || { echo "run.sh: no ready replica at $REST (/readyz)" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cat >"$work/info.lua" <<'LUA'
local req
init = function(args) req = wrk.format("GET", "/v1/model") end
request = function() return req end
LUA
cat >"$work/users.lua" <<LUA
local reqs, n, i = {}, ${USERS}, 0
init = function(args)
  for k = 0, n - 1 do reqs[k] = wrk.format("GET", "/v1/users/u" .. ((k * 7919) % n) .. "/recommendations?count=10") end
end
request = function() i = (i + 1) % n; return reqs[i] end
LUA

# gRPC frames: flag 0, 4-byte big-endian length, message. RecommendRequest{user_id = USER_ID (field 1, length-delimited),
# count = 10 (field 2, varint)}.
hexbytes() { local h=$1 i; for ((i = 0; i < ${#h}; i += 2)); do printf '\\x%s' "${h:i:2}"; done; } # printf escapes, not bytes
varint() { local n=$1 out=''; while ((n >= 128)); do out+=$(printf %02x $(((n & 127) | 128))); n=$((n >> 7)); done; printf '%s%02x' "$out" "$n"; }
frame() { local body=$1; printf '%s%08x%s' 00 $((${#body} / 2)) "$body"; }
[ -n "$USER_ID" ] || { echo "run.sh: USER_ID is empty" >&2; exit 2; }
id_hex=$(printf '%s' "$USER_ID" | od -An -v -tx1 | tr -d ' \n')
printf "$(hexbytes "$(frame "")")" >"$work/info.grpc"
printf "$(hexbytes "$(frame "0a$(varint $((${#id_hex} / 2)))${id_hex}100a")")" >"$work/rec.grpc"

# One call of each first: gRPC errors travel as HTTP 200 with a grpc-status trailer, which h2load counts as success.
for call in GetModelInfo:info Recommend:rec; do
  status=$(curl -s --http2-prior-knowledge -D - -o /dev/null -H 'content-type: application/grpc' -H 'te: trailers' \
    --data-binary @"$work/${call#*:}.grpc" "$GRPC/recservice.v1.Recommender/${call%%:*}" | tr -d '\r' | awk -F': ' 'tolower($1)=="grpc-status"{print $2}' | tail -n 1) || status=''

  [ "$status" = 0 ] || { echo "run.sh: gRPC ${call%%:*} at $GRPC answered grpc-status '${status:-none}'" >&2; exit 2; }
done

rest() { # lua -> "req/s p50 p99 non2xx"
  wrk -t1 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" --latency -s "$1" "$REST" |
    awk '/Requests\/sec/{r=$2} $1=="50%"{p50=$2} $1=="99%"{p99=$2} /Non-2xx/{bad=$NF} END{print r, p50, p99, bad + 0}'
}
grpc() { # body method -> "req/s p50 p99": latencies from h2load's per-request log (it logs the measured requests only)
  local log="$work/grpc.log" rate
  rm -f "$log"
  rate=$(h2load -D "$SECONDS_PER_RUN" --warm-up-time=2 -c 4 -m 16 -H 'content-type: application/grpc' -H 'te: trailers' \
    --log-file="$log" -d "$1" "$GRPC/recservice.v1.Recommender/$2" | awk '/finished in/{print $4}')
  # log rows: start (us since epoch), HTTP status, microseconds until the end of the response
  cut -f3 "$log" | sort -n | awk -v r="$rate" '{ t[NR] = $1 }
    function at(q,  i) { i = int(NR * q); if (i < NR * q) i++; return t[i < 1 ? 1 : i] / 1000 }
    END { if (NR == 0) print r, "-", "-"; else printf "%s %.2fms %.2fms\n", r, at(0.50), at(0.99) }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a + 0 <= 0 || b + 0 <= 0) exit 1; printf "%.3f", b / a }'; }
need() { # label value: a load tool that failed leaves no rate
  awk -v v="$2" 'BEGIN{ exit !(v + 0 > 0) }' || { echo "run.sh: $1 measured no requests (is the replica up? see the tool's output)" >&2; exit 1; }
}

wrk -t1 -c"$CONNECTIONS" -d3s -s "$work/info.lua" "$REST" >/dev/null   # warm-up: JIT tiers, page cache
wrk -t1 -c"$CONNECTIONS" -d3s -s "$work/users.lua" "$REST" >/dev/null

printf '%-5s %-9s %-13s %12s %10s %10s %7s\n' round transport rpc 'req/s' p50 p99 ratio
for round in $(seq "$ROUNDS"); do
  read -r ir i50 i99 ibad <<<"$(rest "$work/info.lua")"
  read -r rr r50 r99 rbad <<<"$(rest "$work/users.lua")"
  need "REST GetModelInfo" "$ir"; need "REST Recommend" "$rr"
  printf '%-5s %-9s %-13s %12s %10s %10s\n' "$round" REST GetModelInfo "$ir" "$i50" "$i99"
  printf '%-5s %-9s %-13s %12s %10s %10s %7s\n' "$round" REST Recommend "$rr" "$r50" "$r99" "$(ratio "$ir" "$rr")"
  [ "$ibad$rbad" = 00 ] || echo "      REST: non-2xx responses: GetModelInfo $ibad, Recommend $rbad" >&2
  read -r gi gim gix <<<"$(grpc "$work/info.grpc" GetModelInfo)"
  read -r gr grm grx <<<"$(grpc "$work/rec.grpc" Recommend)"
  need "gRPC GetModelInfo" "$gi"; need "gRPC Recommend" "$gr"
  printf '%-5s %-9s %-13s %12s %10s %10s\n' "$round" gRPC GetModelInfo "$gi" "$gim" "$gix"
  printf '%-5s %-9s %-13s %12s %10s %10s %7s\n' "$round" gRPC Recommend "$gr" "$grm" "$grx" "$(ratio "$gi" "$gr")"
done
