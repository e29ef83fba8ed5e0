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
# gRPC asks for one user (USER), since h2load sends one fixed body.
# Needs wrk and h2load (apt-get install -y wrk nghttp2-client).
set -euo pipefail

REST=${REST:-http://127.0.0.1:8080}
GRPC=${GRPC:-http://127.0.0.1:8081}
USERS=${USERS:-100000}
USER_ID=${USER_ID:-u4242}
ROUNDS=${ROUNDS:-3}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
CONNECTIONS=${CONNECTIONS:-16}

for tool in wrk h2load; do
  command -v "$tool" >/dev/null || { echo "run.sh: $tool not found (apt-get install -y wrk nghttp2-client)" >&2; exit 2; }
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

# gRPC frames: flag 0, big-endian length, message. RecommendRequest{user_id = USER_ID (field 1), count = 10 (field 2)}.
printf '\x00\x00\x00\x00\x00' >"$work/info.grpc"
len=$(( ${#USER_ID} + 4 ))
{ printf '\x00\x00\x00\x00'; printf "\\x$(printf %02x "$len")"; printf '\x0a'; printf "\\x$(printf %02x "${#USER_ID}")"; printf '%s' "$USER_ID"; printf '\x10\x0a'; } >"$work/rec.grpc"

rest() { # lua -> "req/s p50 p99"
  wrk -t1 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" --latency -s "$1" "$REST" |
    awk '/Requests\/sec/{r=$2} $1=="50%"{p50=$2} $1=="99%"{p99=$2} END{print r, p50, p99}'
}
grpc() { # body method -> "req/s mean max"
  h2load -D "$SECONDS_PER_RUN" --warm-up-time=2 -c 4 -m 16 -H 'content-type: application/grpc' -H 'te: trailers' \
    -d "$1" "$GRPC/recservice.v1.Recommender/$2" |
    awk '/finished in/{r=$4} /succeeded/{ok=$8; bad=$10} /time for request/{mn=$4; mx=$5; mean=$6} END{print r, mean, mx, ok, bad}'
}

wrk -t1 -c"$CONNECTIONS" -d3s -s "$work/info.lua" "$REST" >/dev/null   # warm-up: JIT tiers, page cache
wrk -t1 -c"$CONNECTIONS" -d3s -s "$work/users.lua" "$REST" >/dev/null

printf '%-5s %-9s %-13s %12s %10s %10s %7s\n' round transport rpc 'req/s' 'p50/mean' 'p99/max' ratio
for round in $(seq "$ROUNDS"); do
  read -r ir i50 i99 <<<"$(rest "$work/info.lua")"
  read -r rr r50 r99 <<<"$(rest "$work/users.lua")"
  printf '%-5s %-9s %-13s %12s %10s %10s\n' "$round" REST GetModelInfo "$ir" "$i50" "$i99"
  printf '%-5s %-9s %-13s %12s %10s %10s %7.3f\n' "$round" REST Recommend "$rr" "$r50" "$r99" "$(echo "$rr / $ir" | bc -l)"
  read -r gi gim gix _ <<<"$(grpc "$work/info.grpc" GetModelInfo)"
  read -r gr grm grx ok bad <<<"$(grpc "$work/rec.grpc" Recommend)"
  printf '%-5s %-9s %-13s %12s %10s %10s\n' "$round" gRPC GetModelInfo "$gi" "$gim" "$gix"
  printf '%-5s %-9s %-13s %12s %10s %10s %7.3f\n' "$round" gRPC Recommend "$gr" "$grm" "$grx" "$(echo "$gr / $gi" | bc -l)"
  [ "${bad:-0}" = 0 ] || echo "      gRPC Recommend: $bad of $((ok + bad)) requests failed" >&2
done
