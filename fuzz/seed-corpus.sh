#!/usr/bin/env bash
# Seeds fuzz/corpus/<target>/ from the repository's fixtures: the valid and broken
# configurations and the example for config_parse, the broken state files and a valid state
# for state_parse. Run from anywhere; cargo fuzz then grows the corpus in place.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"

config="$here/corpus/config_parse"
state="$here/corpus/state_parse"
mkdir -p "$config" "$state"

cp "$root"/engine/tests/fixtures/configs/valid/*.toml "$config"/
for f in "$root"/engine/tests/fixtures/configs/invalid/*.toml; do
    cp "$f" "$config/invalid-$(basename "$f")"
done
cp "$root"/examples/eksmgr.toml "$config/example.toml"

for f in "$root"/state/tests/fixtures/broken/*.json; do
    cp "$f" "$state/broken-$(basename "$f")"
done
cat > "$state/valid.json" <<'JSON'
{
  "format_version": 1,
  "lineage": "0b7e2c1a-5d4f-4e8a-9c3b-2f1d6a7e8b90",
  "serial": 7,
  "resources": [
    {
      "address": "iam_role.EKSManagerAgentRole[222222222222]",
      "id": "arn:aws:iam::222222222222:role/EKSManagerAgentRole",
      "attrs": {"path": "/", "max_session_duration": 3600, "tags": {"managed-by": "eksmgr"}},
      "depends_on": [],
      "updated_at": "2025-03-01T12:00:00Z"
    },
    {
      "address": "eks_cluster.prod[666666666666/eu-west-1]",
      "id": "prod",
      "attrs": {"version": "1.31", "endpoint_public_access": false},
      "depends_on": ["iam_role.EKSManagerAgentRole[222222222222]"],
      "updated_at": "2025-03-01T12:05:00.123456789+02:00"
    }
  ]
}
JSON
echo "seeded $(ls "$config" | wc -l) config_parse and $(ls "$state" | wc -l) state_parse inputs"
