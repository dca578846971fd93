using ModelBuild.Diagnostics;
using ModelBuild.Manifest;
using NuGet.Versioning;

namespace ModelBuild.Core.Tests.Manifest;

public sealed class ManifestLoaderErrorTests
{
    private static ManifestWorkspace Workspace() => new("models/m.onnx", "models/t.pt", "data/test.npz");

    [Fact]
    public void YamlSyntaxErrorIsReportedAtTheParserMark()
    {
        using var ws = Workspace();
        var d = ws.ExpectSingle("""
            schema: 1
            models:
              - name: m
                source: "models/m.onnx
            """, "MB1001", 4, 13);
        Assert.StartsWith("YAML syntax error: ", d.Message);
    }

    [Fact]
    public void MissingSchema()
    {
        using var ws = Workspace();
        var d = ws.ExpectSingle("""
            models:
              - name: m
                source: models/m.onnx
            """, "MB1002", 1, 1);
        Assert.Contains("schema: 1", d.Message);
    }

    [Theory]
    [InlineData("2")]
    [InlineData("\"1\"")]
    [InlineData("one")]
    public void UnsupportedSchemaStopsBinding(string value)
    {
        using var ws = Workspace();
        // The unknown key below is not reported: a schema mismatch explains it.
        var d = ws.ExpectSingle($"""
            schema: {value}
            models:
              - name: m
                source: models/m.onnx
                future_key: 1
            """, "MB1002", 1, 9);
        Assert.Contains("supports schema 1", d.Message);
    }

    [Fact]
    public void EmptyManifest()
    {
        using var ws = Workspace();
        ws.ExpectSingle("# nothing here\n", "MB1002", 1, 1);
    }

    [Fact]
    public void UnknownKeyInModelSuggestsTheClosestKey()
    {
        using var ws = Workspace();
        var d = ws.ExpectSingle("""
            schema: 1
            models:
              - name: fashion
                source: models/m.onnx
                varients: []
            """, "MB1003", 5, 5);
        Assert.Equal("unknown key 'varients' in model 'fashion'; did you mean 'variants'?", d.Message);
    }

    [Fact]
    public void UnknownKeysAreReportedAtEveryLevel()
    {
        using var ws = Workspace();
        Assert.Null(ws.Parse("""
            schema: 1
            modles:
              - name: m
            models:
              - name: m
                source: models/m.onnx
                variants:
                  - name: q
                    quantize: { mode: dynamic, perchannel: true }
                checks:
                  parity: { max_abs: 0.1, severty: warning }
                deploy:
                  triton: { max_batch: 4 }
                  wat: 1
            """));
        Assert.Equal(
            [("MB1003", 2, 1), ("MB1003", 9, 36), ("MB1003", 11, 31), ("MB1003", 14, 7), ("MB1003", 13, 17)],
            ws.Found());
        var messages = ws.Diagnostics.Select(d => d.Message).ToList();
        Assert.Equal("unknown key 'modles' at the top level; did you mean 'models'?", messages[0]);
        Assert.Equal("unknown key 'perchannel' in 'quantize' in variant 'q' of model 'm'; did you mean 'per_channel'?", messages[1]);
        Assert.EndsWith("did you mean 'severity'?", messages[2]);
        Assert.Equal("unknown key 'wat' in 'deploy' in model 'm'", messages[3]);
        Assert.Equal("unknown key 'max_batch' in 'deploy.triton' in model 'm'; did you mean 'max_batch_size'?", messages[4]);
    }

    [Fact]
    public void WrongTypeIsReportedAtTheValue()
    {
        using var ws = Workspace();
        var d = ws.ExpectSingle("""
            schema: 1
            models:
              - name: m
                source: models/m.onnx
                export: { onnx: { opset: seventeen } }
            """, "MB1004", 5, 30);
        Assert.Equal("'export.onnx.opset' must be an integer, got 'seventeen'", d.Message);
    }

    [Fact]
    public void OutOfRangeValues()
    {
        using var ws = Workspace();
        Assert.Null(ws.Parse("""
            schema: 1
            models:
              - name: m
                source: models/m.onnx
                variants:
                  - name: p
                    prune: { method: l1-unstructured, amount: [0.5, 1.5, 0] }
                checks:
                  latency: { p95_ms: 0 }
                  accuracy: { min: 2 }
                evaluate: { data: data/test.npz, samples: -3 }
                deploy:
                  triton: { max_batch_size: -1 }
            """));
        Assert.Equal(
            [("MB1004", 7, 57), ("MB1004", 7, 62), ("MB1004", 9, 26), ("MB1004", 10, 24), ("MB1004", 11, 47), ("MB1004", 13, 33)],
            ws.Found().OrderBy(x => x.Line).ThenBy(x => x.Column).ToList());
        Assert.Contains(ws.Diagnostics, d => d.Message == "'prune.amount' must be between 0 and 1 (exclusive of 0, exclusive of 1), got 1.5");
    }

    [Theory]
    [InlineData("2000000000")]
    [InlineData("4097")]
    public void LatencyBatchIsCappedBecauseTheBatchIsHeldInMemory(string batch)
    {
        using var ws = Workspace();
        var d = ws.ExpectSingle($$"""
            schema: 1
            models:
              - name: m
                source: models/m.onnx
                checks:
                  latency: { p95_ms: 5, batch: {{batch}} }
            """, "MB1004", 6, 36);
        Assert.Equal($"'checks.latency.batch' must be between 1 and 4096, got {batch}", d.Message);
    }

    [Fact]
    public void LatencyBatchAtTheCapIsAccepted()
    {
        using var ws = Workspace();
        var m = ws.Parse("""
            schema: 1
            models:
              - name: m
                source: models/m.onnx
                checks:
                  latency: { p95_ms: 5, batch: 4096 }
            """);
        Assert.Empty(ws.Diagnostics);
        Assert.Equal(4096, m!.Models[0].Checks.Latency!.Batch);
    }

    [Fact]
    public void PruneKeysAreCheckedWhereTheyApply()
    {
        using var ws = new ManifestWorkspace("models/m.onnx", "data/train.npz");
        Assert.Null(ws.Parse("""
            schema: 1
            models:
              - name: m
                source: models/m.onnx
                variants:
                  - name: p
                    prune: { method: l1-unstructured, amount: 0.5, n: 2, round_to: 8 }
                  - name: q
                    prune: { method: l1-structured, amount: 0.5, round_to: 0, finetune: { data: data/train.npz, learning_rate: 0, optimizer: lbfgs, batch_size: 0, schedule: step } }
            """));
        // n and round_to on an unstructured method; round_to 0, learning_rate 0, optimizer lbfgs, batch_size 0, schedule step.
        Assert.Equal([7, 7, 9, 9, 9, 9, 9], ws.Found().Select(x => x.Line).Order());
        Assert.All(ws.Found(), x => Assert.Equal("MB1004", x.Code));
        Assert.Contains(ws.Diagnostics, d => d.Message.Contains("'prune.n' (the norm ranking channels) applies to l1-structured only"));
        Assert.Contains(ws.Diagnostics, d => d.Message.Contains("adam") && d.Message.Contains("sgd"));
        Assert.Contains(ws.Diagnostics, d => d.Message.Contains("'step'") && d.Message.Contains("none, cosine"));
    }

    [Fact]
    public void DistillationIsAWeightAndNeedsTheClassificationLoss()
    {
        using var ws = new ManifestWorkspace("models/m.onnx", "data/train.npz");
        Assert.Null(ws.Parse("""
            schema: 1
            models:
              - name: m
                source: models/m.onnx
                variants:
                  - name: a
                    prune: { method: l1-structured, amount: 0.3, finetune: { data: data/train.npz, distill: 1.5, temperature: 0 } }
                  - name: b
                    prune: { method: l1-structured, amount: 0.3, finetune: { data: data/train.npz, loss: mse, distill: 0.5 } }
            """));
        Assert.Equal([(7, 97), (7, 115), (9, 99)], ws.Found().Select(x => (x.Line, x.Column)).Order().ToList());
        Assert.Contains(ws.Diagnostics, d => d.Message.Contains("'prune.finetune.distill' needs loss: cross_entropy"));
    }

    [Fact]
    public void BadEnumValueListsTheAllowedOnes()
    {
        using var ws = Workspace();
        var d = ws.ExpectSingle("""
            schema: 1
            models:
              - name: m
                source: models/m.onnx
                variants:
                  - name: fast
                    optimize: extendd
            """, "MB1004", 7, 19);
        Assert.Equal("invalid value 'extendd' for 'optimize'; expected one of: none, basic, extended; did you mean 'extended'?", d.Message);
    }

    [Theory]
    [InlineData("dtype: float64", 8, 16)]
    [InlineData("dtype: [float32]", 8, 16)]
    [InlineData("shape: [batch, -1]", 7, 24)]
    [InlineData("shape: [batch, 2.5]", 7, 24)]
    [InlineData("shape: [batch, \"?\"]", 7, 24)]
    [InlineData("shape: 4", 7, 16)]
    public void BadInputDeclarations(string entry, int line, int column)
    {
        using var ws = Workspace();
        var shape = entry.StartsWith("shape") ? entry : "shape: [1]";
        var dtype = entry.StartsWith("dtype") ? entry : "dtype: float32";
        var yaml = "schema: 1\nmodels:\n  - name: m\n    source: models/t.pt\n    inputs:\n      - name: x\n"
            + $"        {shape}\n        {dtype}\n";
        ws.ExpectSingle(yaml, "MB1004", line, column);
    }

    [Fact]
    public void SourceWithAnUnsupportedExtension()
    {
        using var ws = Workspace();
        ws.Touch("models/m.h5");
        var d = ws.ExpectSingle("""
            schema: 1
            models:
              - name: m
                source: models/m.h5
            """, "MB1004", 4, 13);
        Assert.Contains(".onnx, .pt or .pth", d.Message);
    }

    [Theory]
    [InlineData("metric: accuracy", 6, 46)]
    [InlineData("data: data/test.tsv", 6, 23)]
    public void BadEvaluateValues(string entry, int line, int column)
    {
        using var ws = Workspace();
        ws.Touch("data/test.tsv");
        var data = entry.StartsWith("data") ? entry : "data: data/test.npz";
        var metric = entry.StartsWith("metric") ? entry : "metric: top1";
        var yaml = "schema: 1\nmodels:\n  - name: m\n    source: models/m.onnx\n    checks: {}\n"
            + $"    evaluate: {{ {data}, {metric} }}\n";
        var d = ws.ExpectSingle(yaml, "MB1004", line, column);
        Assert.Contains(entry.StartsWith("data") ? ".npz" : "top1, top5, mae, cosine", d.Message);
    }

    [Fact]
    public void CheckSeverityMustBeWarningOrError()
    {
        using var ws = Workspace();
        var d = ws.ExpectSingle("""
            schema: 1
            models:
              - name: m
                source: models/m.onnx
                checks:
                  size: { max_mb: 2, severity: fatal }
            """, "MB1004", 6, 36);
        Assert.Contains("expected one of: error, warning", d.Message);
    }

    [Fact]
    public void OutputRangeMustBeOrdered()
    {
        using var ws = Workspace();
        ws.ExpectSingle("""
            schema: 1
            models:
              - name: m
                source: models/m.onnx
                outputs:
                  - { name: y, range: [5, 1] }
            """, "MB1004", 6, 27);
    }

    [Fact]
    public void TritonValues()
    {
        using var ws = Workspace();
        Assert.Null(ws.Parse("""
            schema: 1
            models:
              - name: m
                source: models/m.onnx
                deploy:
                  triton:
                    max_batch_size: 4
                    dynamic_batching: { preferred_batch_size: [2, 8] }
                    instance_group: [ { kind: tpu }, { kind: gpu, count: 0 }, { count: 1 } ]
                  docker: podman
            """));
        Assert.Equal(
            [("MB1004", 8, 55), ("MB1004", 9, 35), ("MB1004", 9, 62), ("MB1005", 9, 67), ("MB1004", 10, 15)],
            ws.Found());
    }

    [Fact]
    public void DynamicBatchingNeedsABatchDimension()
    {
        using var ws = Workspace();
        ws.ExpectSingle("""
            schema: 1
            models:
              - name: m
                source: models/m.onnx
                deploy:
                  triton: { max_batch_size: 0, dynamic_batching: { max_queue_delay_us: 10 } }
            """, "MB1004", 6, 36);
    }

    [Fact]
    public void MissingRequiredKeys()
    {
        using var ws = Workspace();
        Assert.Null(ws.Parse("""
            schema: 1
            models:
              - source: models/m.onnx
              - name: nosource
              - name: torch
                source: models/t.pt
              - name: quant
                source: models/m.onnx
                variants:
                  - name: s
                    quantize: { mode: static }
            """));
        Assert.Equal([("MB1005", 3, 5), ("MB1005", 4, 5), ("MB1005", 5, 5), ("MB1005", 11, 19)], ws.Found());
        var messages = ws.Diagnostics.Select(d => d.Message).ToList();
        Assert.Equal("missing required key 'name' in models[0]", messages[0]);
        Assert.Equal("missing required key 'source' in model 'nosource'", messages[1]);
        Assert.StartsWith("missing required key 'inputs' in model 'torch'", messages[2]);
        Assert.StartsWith("missing required key 'calibration' in 'quantize' in variant 's'", messages[3]);
    }

    [Fact]
    public void MissingModels()
    {
        using var ws = Workspace();
        var d = ws.ExpectSingle("schema: 1\nrequires: '>= 1.0'\n", "MB1005", 1, 1);
        Assert.Equal("missing required key 'models' at the top level", d.Message);
    }

    [Fact]
    public void VariantThatDoesNothing()
    {
        using var ws = Workspace();
        ws.ExpectSingle("""
            schema: 1
            models:
              - name: m
                source: models/m.onnx
                variants:
                  - name: idle
                    from: base
            """, "MB1005", 6, 9);
    }

    [Theory]
    [InlineData("Fashion")]
    [InlineData("1st")]
    [InlineData("my model")]
    [InlineData("a.b")]
    [InlineData(@"digits\n")] // YAML escape: a real trailing newline, which a $-anchored pattern lets through
    public void InvalidModelName(string name)
    {
        using var ws = Workspace();
        var d = ws.ExpectSingle($"""
            schema: 1
            models:
              - name: "{name}"
                source: models/m.onnx
            """, "MB1006", 3, 11);
        Assert.Contains("^[a-z][a-z0-9_-]*$", d.Message);
    }

    [Theory]
    [InlineData("base")]
    [InlineData("best")]
    [InlineData("Int8")]
    public void InvalidOrReservedVariantName(string name)
    {
        using var ws = Workspace();
        ws.ExpectSingle($"""
            schema: 1
            models:
              - name: m
                source: models/m.onnx
                variants:
                  - name: {name}
                    optimize: basic
            """, "MB1006", 6, 15);
    }

    [Fact]
    public void ExportOpsetIsRefusedForAnOnnxSourceInsteadOfIgnored()
    {
        using var ws = Workspace();
        var d = ws.ExpectSingle("""
            schema: 1
            models:
              - name: m
                source: models/m.onnx
                export: { onnx: { opset: 18 } }
            """, "MB1004", 5, 30);
        Assert.StartsWith("'export.onnx.opset' sets the opset a TorchScript or TorchSharp source is exported with", d.Message);
    }

    [Fact]
    public void ExportOpsetIsKeptForATorchScriptSource()
    {
        using var ws = Workspace();
        var m = ws.Parse("""
            schema: 1
            models:
              - name: m
                source: models/t.pt
                inputs: [ { name: x, shape: [batch, 4] } ]
                export: { onnx: { opset: 14 } }
            """);
        Assert.Empty(ws.Diagnostics);
        Assert.Equal(14, m!.Models[0].Export.OnnxOpset);
    }

    [Fact]
    public void VariantWithOnlyFp16FalseHasNoPass()
    {
        using var ws = Workspace();
        var d = ws.ExpectSingle("""
            schema: 1
            models:
              - name: m
                source: models/m.onnx
                variants:
                  - name: half
                    fp16: false
            """, "MB1005", 6, 9);
        Assert.Equal("nothing to do in variant 'half' of model 'm' ('fp16: false' converts nothing); give the variant at least one of: optimize, quantize, fp16, prune", d.Message);
    }

    [Fact]
    public void QuantizingAFloat16VariantIsRefusedWithTheOrderThatWorks()
    {
        using var ws = Workspace();
        var d = ws.ExpectSingle("""
            schema: 1
            models:
              - name: m
                source: models/m.onnx
                variants:
                  - { name: half, fp16: true }
                  - { name: pruned, from: half, prune: { method: l1-unstructured, amount: 0.3 } }
                  - { name: int8, from: pruned, quantize: { mode: dynamic } }
            """, "MB1004", 8, 29);
        Assert.Equal("variant 'int8' quantizes 'pruned', which is float16 (through 'half'); quantize first, then convert: put 'fp16' in a variant 'from: int8'", d.Message);
    }

    [Fact]
    public void Fp16AfterQuantizeIsTheAcceptedOrder()
    {
        using var ws = Workspace();
        ws.Parse("""
            schema: 1
            models:
              - name: m
                source: models/m.onnx
                variants:
                  - { name: int8, quantize: { mode: dynamic } }
                  - { name: half, from: int8, fp16: true }
            """);
        Assert.Empty(ws.Diagnostics);
    }

    [Fact]
    public void Fp16FalseNextToAnotherPassIsFine()
    {
        using var ws = Workspace();
        var m = ws.Parse("""
            schema: 1
            models:
              - name: m
                source: models/m.onnx
                variants:
                  - { name: opt, optimize: basic, fp16: false }
            """);
        Assert.Empty(ws.Diagnostics);
        Assert.Null(m!.Models[0].Variants[0].Fp16);
    }

    [Theory]
    [InlineData("a_b-", "a-b-")]
    [InlineData("a_", "a-")]
    [InlineData("m123456789012345678901234567890123456789012345678901234567890123456789", "m123456789012345678901234567890123456789012345678901234567890123456789")]
    public void KServeNeedsTheModelNameToMakeADns1035Label(string name, string service)
    {
        using var ws = Workspace();
        var d = ws.ExpectSingle($"""
            schema: 1
            models:
              - name: {name}
                source: models/m.onnx
                deploy: {"{"} kserve: true {"}"}
            """, "MB1004", 3, 11);
        Assert.StartsWith($"model name '{name}' becomes InferenceService '{service}', which Kubernetes refuses", d.Message);
    }

    [Theory]
    [InlineData("a_b-", "{}")]
    [InlineData("m12345678901234567890123456789012345678901234567890123456789012", "{ kserve: true }")] // 63 characters
    [InlineData("my_model", "{ kserve: true }")]
    public void ModelNamesKubernetesWouldRefuseAreFineWithoutKServe(string name, string deploy)
    {
        using var ws = Workspace();
        ws.Parse($"""
            schema: 1
            models:
              - name: {name}
                source: models/m.onnx
                deploy: {deploy}
            """);
        Assert.Empty(ws.Diagnostics);
    }

    [Fact]
    public void VariantNameEndingInANewlineIsRefused()
    {
        using var ws = Workspace();
        ws.ExpectSingle("""
            schema: 1
            models:
              - name: m
                source: models/m.onnx
                variants:
                  - name: "int8\n"
                    optimize: basic
            """, "MB1006", 6, 15);
    }

    [Fact]
    public void AxisNameEndingInANewlineIsRefused()
    {
        using var ws = Workspace();
        var d = ws.ExpectSingle("""
            schema: 1
            models:
              - name: m
                source: models/m.onnx
                inputs:
                  - { name: x, shape: ["batch\n", 4] }
            """, "MB1004", 6, 28);
        Assert.StartsWith("shape entries must be positive integers", d.Message);
    }

    [Fact]
    public void DuplicateModelNamesPointAtTheSecond()
    {
        using var ws = Workspace();
        var d = ws.ExpectSingle("""
            schema: 1
            models:
              - name: m
                source: models/m.onnx
              - name: other
                source: models/m.onnx
              - name: m
                source: models/m.onnx
            """, "MB1007", 7, 11);
        Assert.Equal("duplicate model name 'm'", d.Message);
    }

    [Fact]
    public void DuplicateVariantNamesPointAtTheSecond()
    {
        using var ws = Workspace();
        ws.ExpectSingle("""
            schema: 1
            models:
              - name: m
                source: models/m.onnx
                variants:
                  - { name: v, optimize: basic }
                  - { name: v, optimize: extended }
            """, "MB1007", 7, 17);
    }

    [Fact]
    public void DuplicateYamlKeysAreAllReported()
    {
        using var ws = Workspace();
        Assert.Null(ws.Parse("""
            schema: 1
            schema: 1
            models:
              - name: m
                source: models/m.onnx
                name: n
            """));
        Assert.Equal([("MB1007", 2, 1), ("MB1007", 6, 5)], ws.Found());
    }

    [Fact]
    public void EveryMissingFileIsReportedAtItsPath()
    {
        using var ws = Workspace();
        Assert.Null(ws.Parse("""
            schema: 1
            models:
              - name: a
                source: models/missing.onnx
                evaluate: { data: data/none.npz }
                variants:
                  - name: q
                    quantize: { mode: static, calibration: { data: data/none.npy } }
                  - name: p
                    prune: { method: random-unstructured, amount: 0.1, finetune: { data: data/none.npz } }
              - name: b
                source: { torchsharp: { assembly: bin/None.dll, type: X.Y, weights: none.dat } }
                inputs: [ { name: x, shape: [1] } ]
                evaluate: { data: { inputs: data/x.npy, labels: data/test.npz } }
            """));
        Assert.Equal(
            [
                ("MB1008", 4, 13), ("MB1008", 8, 56), ("MB1008", 10, 78), ("MB1008", 5, 23),
                ("MB1008", 12, 39), ("MB1008", 12, 73), ("MB1008", 14, 33), ("MB1004", 14, 53),
            ],
            ws.Found());
        Assert.Contains(ws.Diagnostics, d => d.Message.Contains(ws.Full("models/missing.onnx")));
    }

    [Fact]
    public void RequiresMustBeAVersionRange()
    {
        using var ws = Workspace();
        var d = ws.ExpectSingle("""
            schema: 1
            requires: banana
            models:
              - { name: m, source: models/m.onnx }
            """, "MB1010", 2, 11);
        Assert.Contains("'banana'", d.Message);
    }

    [Theory]
    [InlineData("\">= 2.0.0\"", "[2.0.0, )")]
    [InlineData("\"< 1.0\"", "(, 1.0.0)")]
    [InlineData("\"[1.0, 1.1)\"", "[1.0.0, 1.1.0)")]
    [InlineData("1.3.0", "[1.3.0, )")]
    public void RequiresNotSatisfiedByTheTool(string range, string pretty)
    {
        using var ws = Workspace();
        var d = ws.ExpectSingle($$"""
            schema: 1
            requires: {{range}}
            models:
              - { name: m, source: models/m.onnx, unknown: stops-before-this }
            """, "MB1009", 2, 11);
        Assert.Contains("1.2.0", d.Message);
        Assert.Contains(pretty, d.Message);
    }

    [Fact]
    public void RequiresSatisfied()
    {
        using var ws = Workspace();
        var m = ws.Parse("""
            schema: 1
            requires: ">= 1.0.0"
            models:
              - { name: m, source: models/m.onnx }
            """, NuGetVersion.Parse("1.0.0"));
        Assert.Empty(ws.Diagnostics);
        Assert.NotNull(m);
    }

    [Fact]
    public void FromNamingAnUnknownVariant()
    {
        using var ws = Workspace();
        var d = ws.ExpectSingle("""
            schema: 1
            models:
              - name: m
                source: models/m.onnx
                variants:
                  - { name: slim, optimize: basic }
                  - { name: q, from: slin, quantize: { mode: dynamic } }
            """, "MB1011", 7, 26);
        Assert.Equal("variant 'q' is built from unknown variant 'slin'; expected one of: base, slim; did you mean 'slim'?", d.Message);
    }

    [Fact]
    public void FromCycleIsReportedOnce()
    {
        using var ws = Workspace();
        var d = ws.ExpectSingle("""
            schema: 1
            models:
              - name: m
                source: models/m.onnx
                variants:
                  - { name: a, from: c, optimize: basic }
                  - { name: b, from: a, optimize: basic }
                  - { name: c, from: b, optimize: basic }
                  - { name: d, from: c, optimize: basic }
            """, "MB1011", 6, 26);
        Assert.Contains("a <- c <- b <- a", d.Message);
    }

    [Fact]
    public void SelfReferenceIsACycle()
    {
        using var ws = Workspace();
        ws.ExpectSingle("""
            schema: 1
            models:
              - name: m
                source: models/m.onnx
                variants:
                  - { name: a, from: a, optimize: basic }
            """, "MB1011", 6, 26);
    }

    [Fact]
    public void DeployVariantMustBeDeclared()
    {
        using var ws = Workspace();
        var d = ws.ExpectSingle("""
            schema: 1
            models:
              - name: m
                source: models/m.onnx
                variants:
                  - { name: int8, quantize: { mode: dynamic } }
                deploy: { variant: int4 }
            """, "MB1011", 7, 24);
        Assert.Contains("expected one of: base, int8, best", d.Message);
    }

    [Fact]
    public void AliasesAreRefused()
    {
        using var ws = Workspace();
        Assert.Null(ws.Parse("""
            schema: 1
            a: &a [x, x, x, x, x, x, x, x, x]
            b: &b [*a, *a, *a, *a, *a, *a, *a, *a]
            models:
              - { name: m, source: models/m.onnx }
            """));
        Assert.Equal(8, ws.Diagnostics.Count());
        Assert.All(ws.Diagnostics, d => Assert.Equal("MB1013", d.Code));
        Assert.Equal((3, 8), (ws.Diagnostics.First().Location!.Line, ws.Diagnostics.First().Location!.Column));
    }

    [Fact]
    public void AbsurdNestingIsRefused()
    {
        using var ws = Workspace();
        var yaml = "schema: 1\nmodels: " + new string('[', 10_000) + new string(']', 10_000) + "\n";
        var d = ws.ExpectSingle(yaml, "MB1013", 2, 72);
        Assert.Contains("64", d.Message);
    }

    [Fact]
    public void TooManyNodesAreRefused()
    {
        using var ws = Workspace();
        var yaml = "schema: 1\nx: [" + string.Join(",", Enumerable.Repeat("1", 200_000)) + "]\n";
        Assert.Null(ws.Parse(yaml));
        Assert.Equal("MB1013", Assert.Single(ws.Diagnostics).Code);
    }

    [Fact]
    public void HugeFilesAreRefusedBeforeParsing()
    {
        using var ws = Workspace();
        File.WriteAllText(ws.ManifestPath, "schema: 1\n# " + new string('x', ManifestLoader.MaxFileBytes) + "\n");
        Assert.Null(ManifestLoader.Load(ws.ManifestPath, ws.Diagnostics, ManifestWorkspace.ToolVersion));
        var d = Assert.Single(ws.Diagnostics);
        Assert.Equal("MB1013", d.Code);
        Assert.Equal(ws.ManifestPath, d.Location!.File);
    }

    [Fact]
    public void MissingManifestFile()
    {
        using var ws = Workspace();
        Assert.Null(ManifestLoader.Load(Path.Combine(ws.Root, "nope.yaml"), ws.Diagnostics, ManifestWorkspace.ToolVersion));
        var d = Assert.Single(ws.Diagnostics);
        Assert.Equal("MB1014", d.Code);
        Assert.Equal(ExitCode.BadInput, ws.Diagnostics.ExitCode);
    }

    [Fact]
    public void AllErrorsAreReportedInOnePass()
    {
        using var ws = Workspace();
        Assert.Null(ws.Parse("""
            schema: 1
            models:
              - name: Bad
                source: models/m.onnx
                colour: red
              - name: ok
                source: models/gone.onnx
                export: { onnx: { opset: 3 } }
                deploy: { docker: yes }
            """));
        Assert.Equal(
            [("MB1006", 3, 11), ("MB1003", 5, 5), ("MB1008", 7, 13), ("MB1004", 8, 30), ("MB1004", 9, 23)],
            ws.Found());
        Assert.Equal($"{ws.ManifestPath}(3,11): error MB1006:", ws.Diagnostics.First().ToString()[..(ws.ManifestPath.Length + 21)]);
    }
}
