using ModelBuild.Data;
using ModelBuild.Diagnostics;
using ModelBuild.Manifest;
using ModelBuild.Onnx;
using static ModelBuild.Core.Tests.Data.NpyTestBytes;

namespace ModelBuild.Core.Tests.Data;

public class EvaluationDatasetTests : IDisposable
{
    private static readonly SourceLocation Manifest = new("deploy.yaml", 12, 5);
    private readonly TempDir _dir = new();

    private static TensorInfo Input(string name, TensorElementType type, params long?[] dims) =>
        new(name, type, dims.Select((d, i) => d is long s ? Dimension.Fixed(s) : Dimension.Dynamic(i == 0 ? "batch" : $"d{i}")).ToList());

    private static readonly TensorInfo Image = Input("image", TensorElementType.Float32, null, 3);
    private static readonly TensorInfo Tokens = Input("tokens", TensorElementType.Int64, null, null);

    private static NdArray Rows(int n, int width) =>
        NdArray.Of(Enumerable.Range(0, n * width).Select(i => (float)i).ToArray(), n, width);

    private string Npz(params (string Name, NdArray Array)[] arrays)
    {
        var path = _dir.File($"{Guid.NewGuid():N}.npz");
        NpzWriter.Write(path, arrays.Select(a => KeyValuePair.Create(a.Name, a.Array)));
        return path;
    }

    private static EvaluateSpec Spec(string? data = null, string? inputs = null, string? labels = null, int? samples = null) =>
        new() { Data = data, InputsFile = inputs, LabelsFile = labels, Samples = samples, Location = Manifest };

    [Fact]
    public void LoadsNpzWithLabelsAndBatchesInOrder()
    {
        var path = Npz(("image", Rows(5, 3)), ("labels", NdArray.Of([0L, 1L, 2L, 0L, 1L], 5)), ("extra", Rows(1, 1)));

        var data = EvaluationDataset.Load(Spec(path), [Image]);

        Assert.Equal(5, data.Count);
        Assert.Equal([0L, 1L, 2L, 0L, 1L], data.Labels!.As<long>());
        var batches = data.Batches(2).ToList();
        Assert.Equal([2L, 2L, 1L], batches.Select(b => b["image"].Shape[0]));
        Assert.Equal([12f, 13f, 14f], batches[2]["image"].As<float>());
        Assert.Equal([6f, 7f, 8f, 9f, 10f, 11f], batches[1]["image"].As<float>());
    }

    [Fact]
    public void SamplesKeepsTheFirstN()
    {
        var path = Npz(("image", Rows(5, 3)), ("labels", NdArray.Of([4L, 3L, 2L, 1L, 0L], 5)));
        var data = EvaluationDataset.Load(Spec(path, samples: 2), [Image]);
        Assert.Equal(2, data.Count);
        Assert.Equal([0f, 1f, 2f, 3f, 4f, 5f], data.Inputs["image"].As<float>());
        Assert.Equal([4L, 3L], data.Labels!.As<long>());

        Assert.Equal(5, EvaluationDataset.Load(Spec(path, samples: 50), [Image]).Count);
    }

    [Fact]
    public void WithoutLabelsLabelsIsNull()
    {
        var data = EvaluationDataset.Load(Spec(Npz(("image", Rows(2, 3)))), [Image]);
        Assert.Null(data.Labels);
    }

    [Fact]
    public void ConvertsFloat64ToFloat32AndInt32ToInt64AndNarrowLabels()
    {
        var path = Npz(
            ("image", new NdArray(TensorElementType.Float64, [2, 3], new[] { 0.5, 1, 2, 3, 4, 5 })),
            ("tokens", new NdArray(TensorElementType.Int32, [2, 4], new[] { 1, 2, 3, 4, 5, 6, 7, -8 })),
            ("labels", new NdArray(TensorElementType.UInt8, [2], new byte[] { 9, 200 })));

        var data = EvaluationDataset.Load(Spec(path), [Image, Tokens]);

        Assert.Equal(TensorElementType.Float32, data.Inputs["image"].ElementType);
        Assert.Equal([0.5f, 1, 2, 3, 4, 5], data.Inputs["image"].As<float>());
        Assert.Equal([1L, 2, 3, 4, 5, 6, 7, -8], data.Inputs["tokens"].As<long>());
        Assert.Equal([9L, 200L], data.Labels!.As<long>());
    }

    [Fact]
    public void MissingInputListsWhatTheNpzHolds()
    {
        var path = Npz(("img", Rows(2, 3)), ("labels", NdArray.Of([0L, 1L], 2)));
        var e = Fails(DiagnosticCodes.DataMismatch, () => EvaluationDataset.Load(Spec(path), [Image, Tokens]));
        Assert.Contains("'image', 'tokens'", e.Message);
        Assert.Contains("'img', 'labels'", e.Message);
        Assert.Equal(Manifest, e.Diagnostic.Location);
    }

    [Fact]
    public void WrongElementTypeIsMb2011()
    {
        var path = Npz(("image", NdArray.Of([1L, 2L, 3L], 1, 3)));
        var e = Fails(DiagnosticCodes.DataMismatch, () => EvaluationDataset.Load(Spec(path), [Image]));
        Assert.Contains("holds Int64 but model input 'image' takes Float32", e.Message);
    }

    [Fact]
    public void NarrowingIsNotAllowed()
    {
        var path = Npz(("tokens", NdArray.Of([1f, 2f], 1, 2)));
        Fails(DiagnosticCodes.DataMismatch, () => EvaluationDataset.Load(Spec(path), [Tokens]));
    }

    [Fact]
    public void MismatchedSampleCountsAreMb2011()
    {
        var path = Npz(("image", Rows(4, 3)), ("tokens", NdArray.Of(new long[10], 5, 2)));
        var e = Fails(DiagnosticCodes.DataMismatch, () => EvaluationDataset.Load(Spec(path), [Image, Tokens]));
        Assert.Contains("4 samples for input 'image' but 5 for input 'tokens'", e.Message);
    }

    [Fact]
    public void LabelCountTypeAndRankAreChecked()
    {
        Assert.Contains("3 labels for 4 samples", Fails(DiagnosticCodes.DataMismatch, () =>
            EvaluationDataset.Load(Spec(Npz(("image", Rows(4, 3)), ("labels", NdArray.Of([1L, 2L, 3L], 3)))), [Image])).Message);
        Assert.Contains("integer class indices", Fails(DiagnosticCodes.DataMismatch, () =>
            EvaluationDataset.Load(Spec(Npz(("image", Rows(2, 3)), ("labels", NdArray.Of([1f, 2f], 2)))), [Image])).Message);
        Assert.Contains("1-D", Fails(DiagnosticCodes.DataMismatch, () =>
            EvaluationDataset.Load(Spec(Npz(("image", Rows(2, 3)), ("labels", NdArray.Of([1L, 2L], 2, 1)))), [Image])).Message);
    }

    [Fact]
    public void FixedDimsAndRankMustMatch()
    {
        var e = Fails(DiagnosticCodes.DataMismatch, () => EvaluationDataset.Load(Spec(Npz(("image", Rows(2, 4)))), [Image]));
        Assert.Contains("axis 1 is 4, expected 3", e.Message);
        e = Fails(DiagnosticCodes.DataMismatch, () => EvaluationDataset.Load(Spec(Npz(("image", NdArray.Of(new float[6], 6)))), [Image]));
        Assert.Contains("needs 2 dimensions", e.Message);
        // Dynamic non-batch axes take any size.
        Assert.Equal(2, EvaluationDataset.Load(Spec(Npz(("tokens", NdArray.Of(new long[14], 2, 7)))), [Tokens]).Count);
    }

    [Fact]
    public void EmptyDataIsMb2011()
    {
        Assert.Contains("no samples", Fails(DiagnosticCodes.DataMismatch, () =>
            EvaluationDataset.Load(Spec(Npz(("image", NdArray.Of(Array.Empty<float>(), 0, 3)))), [Image])).Message);
    }

    [Fact]
    public void NpyPairFormWorksForSingleInputModelsOnly()
    {
        var inputs = _dir.File("inputs.npy");
        var labels = _dir.File("labels.npy");
        NpyWriter.Write(inputs, Rows(3, 3));
        NpyWriter.Write(labels, new NdArray(TensorElementType.Int32, [3], new[] { 2, 0, 1 }));

        var data = EvaluationDataset.Load(Spec(inputs: inputs, labels: labels), [Image]);
        Assert.Equal(3, data.Count);
        Assert.Equal([2L, 0L, 1L], data.Labels!.As<long>());
        Assert.Null(EvaluationDataset.Load(Spec(inputs: inputs), [Image]).Labels);

        var e = Fails(DiagnosticCodes.DataMismatch, () => EvaluationDataset.Load(Spec(inputs: inputs, labels: labels), [Image, Tokens]));
        Assert.Contains("single-input", e.Message);
    }

    [Fact]
    public void UnreadableDataIsMb2010AtTheManifestKeyAndNamesTheFile()
    {
        var path = _dir.File("bad.npz");
        File.WriteAllText(path, "not a zip");
        var e = Fails(DiagnosticCodes.DataUnreadable, () => EvaluationDataset.Load(Spec(path), [Image]));
        Assert.Equal(Manifest, e.Diagnostic.Location);
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void BatchSizeMustBePositive()
    {
        var data = EvaluationDataset.Load(Spec(Npz(("image", Rows(2, 3)))), [Image]);
        Assert.Throws<ArgumentOutOfRangeException>(() => data.Batches(0));
    }

    public void Dispose() => _dir.Dispose();
}
