#!/usr/bin/env bash
# Measures what adopting ModelBuild costs a team (README "Measured"): package sizes, and for an ONNX-only app and a
# TorchScript app: restore size and time into an empty NuGet packages folder, first build, no-op build.
# Usage: testassets/adoption/measure.sh   (from anywhere; packs from the working tree; ~2 min; needs the NuGet feeds
# that serve TorchSharp and libtorch-cpu-linux-x64, as the repository's own restore does)
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
version="0.1.0-measure.$(date +%s)"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 MSBUILDDISABLENODEREUSE=1

for project in ModelBuild.Tasks ModelBuild.TorchPackage ModelBuild.Tool ModelBuild.Runtime; do
  dotnet pack "$repo/src/$project/$project.csproj" -c Release -o "$work/feed" --artifacts-path "$work/artifacts" \
    -p:Version="$version" -nodeReuse:false >/dev/null
done
echo "| package | nupkg MB | unpacked MB |"
echo "|---|---:|---:|"
for nupkg in "$work"/feed/*.nupkg; do
  unpacked=$(unzip -l "$nupkg" | tail -1 | awk '{print $1}')
  printf '| %s | %.3f | %.3f |\n' "$(basename "$nupkg" ".$version.nupkg")" \
    "$(echo "$(stat -c %s "$nupkg") / 1000000" | bc -l)" "$(echo "$unpacked / 1000000" | bc -l)"
done

seconds() { local start end; start=$(date +%s.%N); "$@" >"$work/last.log" 2>&1 || { cat "$work/last.log"; exit 1; }; end=$(date +%s.%N); printf '%.1f' "$(echo "$end - $start" | bc -l)"; }

app() { # name, source model, extra PackageReference lines
  local dir="$work/$1"
  mkdir -p "$dir/models"
  cp "$2" "$dir/models/"
  cat >"$dir/$1.csproj" <<XML
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup><OutputType>Exe</OutputType><TargetFramework>net10.0</TargetFramework></PropertyGroup>
  <ItemGroup>
    <PackageReference Include="ModelBuild" Version="$version" />$3
  </ItemGroup>
</Project>
XML
  cat >"$dir/nuget.config" <<XML
<configuration><packageSources><add key="local" value="$work/feed" /></packageSources></configuration>
XML
  echo 'System.Console.WriteLine("app");' >"$dir/Program.cs"
}

app OnnxApp "$repo/tests/ModelBuild.EndToEnd.Tests/assets/digits-mlp.onnx" ""
printf 'schema: 1\nmodels:\n  - name: digits\n    source: models/digits-mlp.onnx\n    variants:\n      - { name: int8, quantize: { mode: dynamic } }\n' >"$work/OnnxApp/deploy.yaml"
app TorchApp "$repo/testassets/SampleApp/models/fashion.pt" '
    <PackageReference Include="ModelBuild.Torch" Version="'"$version"'" />'
printf 'schema: 1\nmodels:\n  - name: fashion\n    source: models/fashion.pt\n    inputs: [{ name: input, shape: [batch, 1, 28, 28], dtype: float32 }]\n    variants:\n      - { name: int8, quantize: { mode: dynamic } }\n' >"$work/TorchApp/deploy.yaml"

echo
echo "| app | restore s | restored MB (empty packages folder) | libtorch restored | first build s | no-op build s |"
echo "|---|---:|---:|---|---:|---:|"
for name in OnnxApp TorchApp; do
  export NUGET_PACKAGES="$work/packages-$name"
  cd "$work/$name"
  restore=$(seconds dotnet restore)
  mb=$(du -sm "$NUGET_PACKAGES" | cut -f1)
  torch=$([ -d "$NUGET_PACKAGES/libtorch-cpu-linux-x64" ] && echo yes || echo no)
  first=$(seconds dotnet build --no-restore)
  noop=$(seconds dotnet build --no-restore)
  echo "| $name | $restore | $mb | $torch | $first | $noop |"
done
