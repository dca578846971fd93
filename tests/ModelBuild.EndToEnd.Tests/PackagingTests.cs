using System.IO.Compression;
using System.Text.Json;
using System.Xml.Linq;
using ModelBuild.Data;
using ModelBuild.Diagnostics;
using ModelBuild.Evaluation;
using ModelBuild.Execution;

namespace ModelBuild.EndToEnd.Tests;

/// <summary>
/// The packages as a team adopts them: within nuget.org's size limit, no libtorch for an app whose models are all
/// ONNX (restored into an empty packages folder, as on a fresh CI agent), libtorch through the ModelBuild.Torch
/// add-on for TorchScript sources (and a located error naming that line without it), and no conflict with the
/// app's own ONNX Runtime version.
/// </summary>
[Collection(PackageFeedCollection.Name)]
public sealed class PackagingTests(PackageFeedFixture feed)
{
    // nuget.org refuses packages over 250 MB.
    private const long NuGetOrgLimit = 250L * 1000 * 1000;
    // The issue's bound for what an ONNX-only app restores into an empty packages folder.
    private const long OnnxOnlyRestoreLimit = 450L * 1000 * 1000;

    private const string OnnxManifest = """
        schema: 1
        models:
          - name: digits
            source: models/digits-mlp.onnx
            variants:
              - name: int8
                quantize: { mode: dynamic }
        """;

    private const string TorchScriptManifest = """
        schema: 1
        models:
          - name: fashion
            source: models/fashion.pt
            inputs:
              - { name: input, shape: [batch, 1, 28, 28], dtype: float32 }
            outputs:
              - { name: logits }
        """;

    private static string SampleApp => Path.Combine(RepoPaths.Root, "testassets", "SampleApp");

    [Fact]
    public void The_ModelBuild_package_fits_nuget_org_has_no_dependencies_and_carries_desktop_natives_only()
    {
        Assert.InRange(new FileInfo(feed.PackagePath).Length, 1, NuGetOrgLimit);
        using var package = ZipFile.OpenRead(feed.PackagePath);
        var nuspec = XDocument.Load(package.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal)).Open());
        Assert.DoesNotContain(nuspec.Descendants(), e => e.Name.LocalName == "dependency");

        var natives = package.Entries.Select(e => e.FullName).Where(n => n.StartsWith("tools/net10.0/runtimes/", StringComparison.Ordinal)).ToList();
        var rids = natives.Select(n => n.Split('/')[3]).ToHashSet();
        Assert.Equal(new HashSet<string> { "linux-x64", "linux-arm64", "osx-arm64", "win-x64", "win-arm64" }, rids);
        Assert.Contains("tools/net10.0/runtimes/win-x64/native/onnxruntime.dll", natives);
        Assert.Contains("tools/net10.0/runtimes/osx-arm64/native/libonnxruntime.dylib", natives);
        Assert.Contains("tools/net10.0/runtimes/linux-x64/native/libonnxruntime.so", natives);
        Assert.DoesNotContain(package.Entries, e => e.Name.StartsWith("TorchSharp", StringComparison.Ordinal) || e.Name.Contains("libtorch", StringComparison.Ordinal));
        Assert.Contains(package.Entries, e => e.FullName == "tools/net10.0/torch/ModelBuild.Torch.dll");
    }

    [Fact]
    public void An_onnx_only_app_restores_no_libtorch_into_an_empty_packages_folder_and_builds()
    {
        using var project = new ConsumerProject(feed, OnnxManifest);
        var packages = Directory.CreateTempSubdirectory("modelbuild-packages-").FullName;
        try
        {
            var environment = new Dictionary<string, string> { ["NUGET_PACKAGES"] = packages };
            var restore = project.Dotnet(environment, "restore");
            Assert.True(restore.ExitCode == 0, restore.ToString());
            var restored = Directory.GetDirectories(packages).Select(Path.GetFileName).ToList();
            Assert.DoesNotContain("libtorch-cpu-linux-x64", restored);
            Assert.DoesNotContain("torchsharp", restored);
            var bytes = new DirectoryInfo(packages).EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length);
            Assert.True(bytes <= OnnxOnlyRestoreLimit, $"restored {bytes / 1e6:0} MB: {string.Join(", ", restored)}");

            var build = project.Dotnet(environment, "build", "--no-restore");
            Assert.True(build.ExitCode == 0, build.ToString());
            // The deployed base computes what the user's model computes, run by ONNX Runtime here.
            var data = NpzReader.ReadAll(RepoPaths.Asset("digits-test.npz"));
            var input = new Dictionary<string, NdArray> { ["pixels"] = data["pixels"] };
            var deployed = Path.Combine(project.OutputDirectory, "models", "digits", "model.onnx");
            using var built = new ModelRunner(deployed, new SourceLocation(deployed));
            using var source = new ModelRunner(RepoPaths.Asset("digits-mlp.onnx"), new SourceLocation("source"));
            var expected = source.Run(input)["probs"].As<float>();
            var actual = built.Run(input)["probs"].As<float>();
            Assert.True(expected.Max() > 0.5, "the reference output is informative");
            Assert.Equal(expected.Length, actual.Length);
            Assert.All(expected.Zip(actual), p => Assert.Equal(p.First, p.Second, 5));
        }
        finally
        {
            Directory.Delete(packages, recursive: true);
        }
    }

    [Fact]
    public void A_torchscript_app_needs_ModelBuild_Torch_and_an_error_at_the_source_key_names_the_line_to_add()
    {
        using (var without = NewTorchScriptApp(packages: null))
        {
            var build = without.Dotnet("build");
            Assert.NotEqual(0, build.ExitCode);
            // `source:` is line 4, its value starts at column 13.
            Assert.Contains($"deploy.yaml(4,13): error {DiagnosticCodes.TorchRuntimeUnavailable}:", build.Output);
            Assert.Contains($"<PackageReference Include=\"ModelBuild.Torch\" Version=\"{feed.Version}\" />", build.Output);
        }

        using var with = NewTorchScriptApp(new Dictionary<string, string> { ["ModelBuild.Torch"] = feed.Version });
        var ok = with.Dotnet("build");
        Assert.True(ok.ExitCode == 0, ok.ToString());
        using var report = JsonDocument.Parse(File.ReadAllText(Path.Combine(with.OutputDirectory, "modelbuild-report.json")));
        var model = report.RootElement.GetProperty("models")[0];
        // Judged against libtorch's own outputs, not against itself.
        Assert.Equal("pytorch", model.GetProperty("parity_reference").GetString());
        var test = NpzReader.ReadAll(Path.Combine(SampleApp, "data", "test.npz"));
        var deployed = Path.Combine(with.OutputDirectory, "models", "fashion", "model.onnx");
        using var runner = new ModelRunner(deployed, new SourceLocation(deployed));
        var logits = runner.Run(new Dictionary<string, NdArray> { ["input"] = test["input"] })["logits"];
        Assert.InRange(Metrics.TopKAccuracy(logits, test["labels"], 1), 0.85, 1.0);
        // The add-on brings libtorch to the build only: nothing of it reaches the app's output.
        Assert.DoesNotContain(Directory.EnumerateFiles(with.OutputDirectory, "*", SearchOption.AllDirectories),
            f => Path.GetFileName(f) is var name && (name.StartsWith("libtorch", StringComparison.Ordinal) ||
                 name.StartsWith("libc10", StringComparison.Ordinal) || name.Contains("TorchSharp", StringComparison.Ordinal)));
    }

    [Fact]
    public void An_app_on_another_onnx_runtime_version_adds_ModelBuild_and_builds_with_warnings_as_errors()
    {
        // ModelBuild.Runtime too: its ONNX Runtime dependency is a floor (1.30.0), not the tool's version.
        using var project = new ConsumerProject(feed, OnnxManifest,
            packages: new Dictionary<string, string> { ["Microsoft.ML.OnnxRuntime"] = "1.30.0", ["ModelBuild.Runtime"] = feed.Version },
            properties: new Dictionary<string, string> { ["TreatWarningsAsErrors"] = "true" });
        File.WriteAllText(Path.Combine(project.Directory, "Program.cs"), """
            using Microsoft.ML.OnnxRuntime;
            using var session = new InferenceSession(Path.Combine(AppContext.BaseDirectory, "models", "digits", "int8", "model.onnx"));
            Console.WriteLine($"onnxruntime {OrtEnv.Instance().GetVersionString()} input {session.InputMetadata.Keys.Single()}");
            // The typed class the build generated, on the app's ONNX Runtime.
            using var typed = ModelBuild.Models.DigitsModel.Load();
            Console.WriteLine($"typed {typed.Run(new float[64]).Probs.Length}");
            """);

        var build = project.Dotnet("build");

        Assert.True(build.ExitCode == 0, build.ToString());
        Assert.DoesNotContain("NU1605", build.Output);
        // The app runs the deployed variant on its own ONNX Runtime; the build used the tool's.
        var run = ProcessRunner.Dotnet(project.OutputDirectory, Path.Combine(project.OutputDirectory, "Consumer.dll"));
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("onnxruntime 1.30.0 input pixels", run.Output);
        Assert.Contains("typed 10", run.Output);
    }

    [Fact]
    public void The_modelbuild_tool_package_fits_nuget_org_installs_and_builds_onnx_without_libtorch()
    {
        var work = Directory.CreateTempSubdirectory("modelbuild-tool-").FullName;
        try
        {
            var toolFeed = Path.Combine(work, "feed");
            var pack = ProcessRunner.Dotnet(RepoPaths.Root, "pack", "src/ModelBuild.Tool/ModelBuild.Tool.csproj", "-c", "Release",
                "-o", toolFeed, "--artifacts-path", Path.Combine(work, "artifacts"), $"-p:Version={feed.Version}", "-nodeReuse:false");
            Assert.True(pack.ExitCode == 0, pack.ToString());
            var package = Path.Combine(toolFeed, $"ModelBuild.Tool.{feed.Version}.nupkg");
            Assert.InRange(new FileInfo(package).Length, 1, NuGetOrgLimit);

            // A machine that never restored libtorch: an empty packages folder for the install and the runs.
            var environment = new Dictionary<string, string> { ["NUGET_PACKAGES"] = Path.Combine(work, "packages") };
            var tools = Path.Combine(work, "tools");
            var install = ProcessRunner.Run("dotnet", work, TimeSpan.FromMinutes(5), environment,
                "tool", "install", "ModelBuild.Tool", "--version", feed.Version, "--tool-path", tools, "--add-source", toolFeed);
            Assert.True(install.ExitCode == 0, install.ToString());
            var modelbuild = Path.Combine(tools, OperatingSystem.IsWindows() ? "modelbuild.exe" : "modelbuild");

            var app = Directory.CreateDirectory(Path.Combine(work, "app", "models")).Parent!.FullName;
            File.Copy(RepoPaths.Asset("digits-mlp.onnx"), Path.Combine(app, "models", "digits-mlp.onnx"));
            File.Copy(Path.Combine(SampleApp, "models", "fashion.pt"), Path.Combine(app, "models", "fashion.pt"));
            File.WriteAllText(Path.Combine(app, "onnx.yaml"), OnnxManifest);
            File.WriteAllText(Path.Combine(app, "torch.yaml"), TorchScriptManifest);

            var onnx = ProcessRunner.Run(modelbuild, app, TimeSpan.FromMinutes(5), environment, "build", "onnx.yaml", "--out", "out", "--quiet");
            Assert.True(onnx.ExitCode == 0, onnx.ToString());
            using (var report = JsonDocument.Parse(File.ReadAllText(Path.Combine(app, "out", "modelbuild-report.json"))))
                Assert.True(report.RootElement.GetProperty("passed").GetBoolean());

            var torch = ProcessRunner.Run(modelbuild, app, TimeSpan.FromMinutes(5), environment, "build", "torch.yaml", "--out", "out2", "--quiet");
            Assert.Equal((int)ExitCode.BadInput, torch.ExitCode);
            Assert.Contains($"torch.yaml(4,13): error {DiagnosticCodes.TorchRuntimeUnavailable}:", torch.Output);
            Assert.Contains("modelbuild install-libtorch", torch.Output);
            Assert.False(Directory.Exists(Path.Combine(app, "out2", "models")), "nothing half-written");
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    private ConsumerProject NewTorchScriptApp(IReadOnlyDictionary<string, string>? packages)
    {
        var project = new ConsumerProject(feed, TorchScriptManifest, name: "TorchApp", packages: packages);
        File.Copy(Path.Combine(SampleApp, "models", "fashion.pt"), Path.Combine(project.Directory, "models", "fashion.pt"));
        return project;
    }
}
