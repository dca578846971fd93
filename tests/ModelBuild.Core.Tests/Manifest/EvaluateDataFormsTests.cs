using ImageLayout = ModelBuild.Runtime.ImageLayout;
using ModelBuild.Manifest;

namespace ModelBuild.Core.Tests.Manifest;

/// <summary>The evaluate.data forms: csv, images, idx (and the existing npz / npy pair), and their errors.</summary>
public sealed class EvaluateDataFormsTests
{
    private static ManifestWorkspace Workspace()
    {
        var ws = new ManifestWorkspace("models/m.onnx", "data/t.csv", "data/x.npy", "data/y.npy", "data/i-idx3-ubyte.gz", "data/l-idx1-ubyte.gz");
        Directory.CreateDirectory(ws.Full("data/images/cat"));
        return ws;
    }

    private static string Yaml(string data) =>
        "schema: 1\nmodels:\n  - name: m\n    source: models/m.onnx\n    evaluate:\n      data: " + data + "\n";

    private static EvaluateSpec Parse(ManifestWorkspace ws, string data)
    {
        var manifest = ws.Parse(Yaml(data));
        Assert.Empty(ws.Diagnostics);
        return manifest!.Models[0].Evaluate!;
    }

    [Fact]
    public void Csv_path_and_csv_mapping()
    {
        using var ws = Workspace();
        var plain = Parse(ws, "data/t.csv");
        Assert.Equal(EvaluationDataFormat.Csv, plain.Format);
        Assert.Equal(ws.Full("data/t.csv"), plain.CsvFile);
        Assert.Equal("label", plain.LabelColumn);
        Assert.Null(plain.InputName);

        using var ws2 = Workspace();
        var mapped = Parse(ws2, "{ csv: data/t.csv, label_column: y, input: features }");
        Assert.Equal(("y", "features"), (mapped.LabelColumn, mapped.InputName));
    }

    [Fact]
    public void Image_folder_with_preprocessing()
    {
        using var ws = Workspace();
        var spec = Parse(ws, "{ images: data/images, size: [256, 256], crop: [224, 224], mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], layout: nhwc, scale: 255 }");
        Assert.Equal(EvaluationDataFormat.Images, spec.Format);
        Assert.Equal(ws.Full("data/images"), spec.ImageDirectory);
        Assert.Equal([256, 256], spec.Preprocess.Size!);
        Assert.Equal([224, 224], spec.Preprocess.Crop!);
        Assert.Equal(new[] { 0.229, 0.224, 0.225 }, spec.Preprocess.Std);
        Assert.Equal(ImageLayout.Nhwc, spec.Preprocess.Layout);
    }

    [Fact]
    public void Idx_files_with_normalization()
    {
        using var ws = Workspace();
        var spec = Parse(ws, "{ idx: { images: data/i-idx3-ubyte.gz, labels: data/l-idx1-ubyte.gz }, mean: 0.2860, std: 0.3530 }");
        Assert.Equal(EvaluationDataFormat.Idx, spec.Format);
        Assert.Equal(ws.Full("data/i-idx3-ubyte.gz"), spec.IdxImages);
        Assert.Equal(ws.Full("data/l-idx1-ubyte.gz"), spec.IdxLabels);
        Assert.Equal(new[] { 0.2860 }, spec.Preprocess.Mean);
        Assert.Equal(ImageLayout.Nchw, spec.Preprocess.Layout);
        Assert.Equal(255, spec.Preprocess.Scale);
    }

    [Fact]
    public void Npy_pair_still_works()
    {
        using var ws = Workspace();
        var spec = Parse(ws, "{ inputs: data/x.npy, labels: data/y.npy }");
        Assert.Equal(EvaluationDataFormat.Npy, spec.Format);
        Assert.Equal(ws.Full("data/x.npy"), spec.InputsFile);
    }

    [Theory]
    // A key of another form is unknown here (MB1003), at the key.
    [InlineData("{ csv: data/t.csv, size: [2, 2] }", "MB1003", 6, 32)]
    // Two forms at once.
    [InlineData("{ csv: data/t.csv, images: data/images }", "MB1004", 6, 32)]
    [InlineData("{ images: data/missing }", "MB1008", 6, 23)]
    [InlineData("{ images: data/images, size: [2] }", "MB1004", 6, 42)]
    [InlineData("{ images: data/images, std: [0.5, 0] }", "MB1004", 6, 47)]
    [InlineData("{ images: data/images, layout: chw }", "MB1004", 6, 44)]
    [InlineData("{ images: data/images, mean: [1, 2], std: [1, 2, 3] }", "MB1004", 6, 55)]
    [InlineData("{ idx: { labels: data/l-idx1-ubyte.gz } }", "MB1005", 6, 20)]
    [InlineData("{ idx: data/i-idx3-ubyte.gz }", "MB1004", 6, 20)]
    [InlineData("{ label_column: y }", "MB1005", 6, 13)]
    [InlineData("{ csv: data/t.npz }", "MB1004", 6, 20)]
    public void Bad_forms(string data, string code, int line, int column)
    {
        using var ws = Workspace();
        ws.ExpectSingle(Yaml(data), code, line, column);
    }
}
