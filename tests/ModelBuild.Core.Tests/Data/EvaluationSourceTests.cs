using ImagePreprocessing = ModelBuild.Runtime.ImagePreprocessing;
using ImageLayout = ModelBuild.Runtime.ImageLayout;
using ModelBuild.Data;
using ModelBuild.Data.Sources;
using ModelBuild.Diagnostics;
using ModelBuild.Evaluation;
using ModelBuild.Manifest;
using ModelBuild.Onnx;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace ModelBuild.Core.Tests.Data;

/// <summary>The CSV, idx and image-folder readers: values, labels, shapes, hostile files, and lazy batches.</summary>
public sealed class EvaluationSourceTests : IDisposable
{
    private static readonly SourceLocation At = new("deploy.yaml", 9, 5);
    private readonly string _dir = Directory.CreateTempSubdirectory("mb-sources-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private string PathOf(string name) => Path.Combine(_dir, name);

    private static TensorInfo Input(string name, params long?[] dims) =>
        new(name, TensorElementType.Float32, dims.Select(d => d is null ? new Dimension(null, "batch") : new Dimension(d, null)).ToList());

    private static float[] All(IEvaluationSource source, int batch) =>
        source.Batches(batch).SelectMany(b => b.Values.Single().As<float>()).ToArray();

    // ---- CSV ----

    [Fact]
    public void Csv_features_become_one_input_and_the_label_column_the_labels()
    {
        var csv = PathOf("d.csv");
        File.WriteAllText(csv, "a,label,b,c,d\n1,2,3,4,5\n\"6\",0,7,8.5,-9\r\n\n10,1,11,12,1e2\n");
        var source = CsvSource.Open(csv, "label", null, [Input("x", null, 2, 2)], null, At);

        Assert.Equal(3, source.Count);
        Assert.Equal(new long[] { 2, 0, 1 }, source.Labels!.As<long>());
        var batches = source.Batches(2).ToList();
        Assert.Equal(new long[] { 2, 2, 2 }, batches[0]["x"].Shape);
        Assert.Equal(new long[] { 1, 2, 2 }, batches[1]["x"].Shape);
        Assert.Equal(new float[] { 1, 3, 4, 5, 6, 7, 8.5f, -9, 10, 11, 12, 100 }, All(source, 2));
    }

    [Fact]
    public void Csv_without_the_label_column_has_no_labels_and_samples_caps_rows()
    {
        var csv = PathOf("d.csv");
        File.WriteAllText(csv, "a,b\n1,2\n3,4\n5,6\n");
        var source = CsvSource.Open(csv, "label", "x", [Input("x", null, 2)], cap: 2, At);
        Assert.Null(source.Labels);
        Assert.Equal(new float[] { 1, 2, 3, 4 }, All(source, 8));
    }

    [Theory]
    [InlineData("a,label\n1,0\n2\n", "line 3 has 1 values")]
    [InlineData("a,label\n1,0\nx,1\n", "'x' is not a number")]
    [InlineData("a,label\n1,0\n2,cat\n", "not an integer class index")]
    [InlineData("", "empty")]
    public void Malformed_csv_is_MB2010(string text, string message)
    {
        var csv = PathOf("bad.csv");
        File.WriteAllText(csv, text);
        var e = Assert.Throws<ModelBuildException>(() => CsvSource.Open(csv, "label", null, [Input("x", null, 1)], null, At));
        Assert.Equal("MB2010", e.Diagnostic.Code);
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void Csv_columns_that_do_not_fit_the_input_are_MB2011()
    {
        var csv = PathOf("d.csv");
        File.WriteAllText(csv, "a,b,c,label\n1,2,3,0\n");
        var e = Assert.Throws<ModelBuildException>(() => CsvSource.Open(csv, "label", null, [Input("x", null, 1, 2, 2)], null, At));
        Assert.Equal("MB2011", e.Diagnostic.Code);
        Assert.Equal(At, e.Diagnostic.Location);
    }

    // ---- idx ----

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Idx_images_are_scaled_and_normalized_and_labels_read(bool gzip)
    {
        var pixels = Enumerable.Range(0, 3 * 2 * 2).Select(i => (byte)(i * 20)).ToArray();
        IdxFiles.Write(PathOf("img"), pixels, gzip, 3, 2, 2);
        IdxFiles.Write(PathOf("lbl"), [7, 1, 9], gzip, 3);
        var pre = new ImagePreprocessing { Mean = [0.5], Std = [0.25] };
        var source = IdxSource.Open(PathOf("img"), PathOf("lbl"), pre, [Input("x", null, 1, 2, 2)], null, At);

        Assert.Equal(3, source.Count);
        Assert.Equal(new long[] { 7, 1, 9 }, source.Labels!.As<long>());
        var first = source.Batches(2).First()["x"];
        Assert.Equal(new long[] { 2, 1, 2, 2 }, first.Shape);
        var expected = pixels.Select(p => (p / 255f - 0.5f) / 0.25f).ToArray();
        Assert.Equal(expected, All(source, 2));
    }

    [Fact]
    public void Hostile_idx_files_are_MB2010()
    {
        void Expect(byte[] bytes, string message)
        {
            File.WriteAllBytes(PathOf("h"), bytes);
            var e = Assert.Throws<ModelBuildException>(() => IdxSource.Open(PathOf("h"), null, new ImagePreprocessing(), [Input("x", null, 2, 2)], null, At));
            Assert.Equal("MB2010", e.Diagnostic.Code);
            Assert.Contains(message, e.Message);
        }

        var good = IdxFiles.Bytes(new byte[8], 2, 2, 2);
        Expect([1, 2, 3], "truncated");
        Expect([9, 9, 8, 3, 0, 0, 0, 1], "not an idx file");
        var floats = (byte[])good.Clone(); floats[2] = 0x0D;
        Expect(floats, "0x0D is not supported");
        Expect(good[..^1], "promises 24 bytes");
        // A header claiming billions of samples is refused before anything is allocated.
        Expect(IdxFiles.Bytes([], -1, 2, 2)[..16], "at most");
        // gzip: the trailer's size must match the header, and a cut stream is caught too.
        var gz = IdxFiles.Gzip(IdxFiles.Bytes(new byte[8], 3, 2, 2)[..^4]);
        Expect(gz, "gzip stream holds");
        // A gzip whose trailer is right but whose deflate data is garbage (block type 3 is reserved).
        byte[] corrupt = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, (byte)good.Length, 0, 0, 0];
        File.WriteAllBytes(PathOf("h"), corrupt);
        var e = Assert.Throws<ModelBuildException>(() => IdxSource.Open(PathOf("h"), null, new ImagePreprocessing(), [Input("x", null, 2, 2)], null, At));
        Assert.Equal("MB2010", e.Diagnostic.Code);
    }

    [Fact]
    public void Idx_label_count_must_match_the_images()
    {
        IdxFiles.Write(PathOf("img"), new byte[8], false, 2, 2, 2);
        IdxFiles.Write(PathOf("lbl"), [1, 2, 3], false, 3);
        var e = Assert.Throws<ModelBuildException>(() => IdxSource.Open(PathOf("img"), PathOf("lbl"), new ImagePreprocessing(), [Input("x", null, 2, 2)], null, At));
        Assert.Equal("MB2011", e.Diagnostic.Code);
    }

    // ---- streaming ----

    [Fact]
    public void A_large_idx_set_is_read_a_batch_at_a_time()
    {
        // 20,000 28x28 images: 15.7 MB of pixels, 63 MB as floats. Reading the first batch must not touch the rest.
        const int n = 20_000;
        IdxFiles.Write(PathOf("big"), new byte[n * 784], gzip: true, n, 28, 28);
        var source = IdxSource.Open(PathOf("big"), null, new ImagePreprocessing(), [Input("x", null, 1, 28, 28)], null, At);
        Assert.Equal(n, source.Count);

        var before = GC.GetAllocatedBytesForCurrentThread();
        using (var batches = source.Batches(32).GetEnumerator())
        {
            Assert.True(batches.MoveNext());
            Assert.Equal(32, batches.Current["x"].Shape[0]);
        }
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.InRange(allocated, 0, 4L << 20);
    }

    [Fact]
    public void Evaluation_pulls_batches_only_as_it_runs_them()
    {
        var source = new CountingSource(1000);
        var set = new EvaluationSet(source, "counting");
        var seenWhenRun = new List<int>();
        var outputs = BatchedRunner.Run(batch =>
        {
            seenWhenRun.Add(source.Produced);
            return new Dictionary<string, NdArray> { ["y"] = batch["x"] };
        }, set, 100, fixedBatch: false, CancellationToken.None);

        // Each batch is produced right before it runs: never more than one batch ahead.
        Assert.Equal(Enumerable.Range(1, 10), seenWhenRun);
        Assert.Equal(1000, outputs["y"].Shape[0]);
    }

    [Fact]
    public void Take_repeats_the_samples_up_to_the_batch()
    {
        var set = new EvaluationSet(new InMemorySource(new Dictionary<string, NdArray> { ["x"] = NdArray.Of([1f, 2f, 3f], 3, 1) }, null, 3), "three");
        var batch = set.Take(7, At)["x"];
        Assert.Equal([7L, 1L], batch.Shape);
        Assert.Equal([1f, 2f, 3f, 1f, 2f, 3f, 1f], batch.As<float>());
    }

    [Fact]
    public void Take_refuses_a_batch_too_large_to_hold_before_copying()
    {
        // One sample of 2^20 values repeated 4096 times would be 16 GiB of float32.
        const int values = 1 << 20;
        var set = new EvaluationSet(new InMemorySource(new Dictionary<string, NdArray> { ["x"] = NdArray.Of(new float[values], 1, values) }, null, 1), "wide");
        var before = GC.GetTotalAllocatedBytes();
        var e = Assert.Throws<ModelBuildException>(() => set.Take(4096, At));
        Assert.True(GC.GetTotalAllocatedBytes() - before < 64L << 20, "refused only after allocating the copies");
        Assert.Equal("MB1004", e.Diagnostic.Code);
        Assert.Equal(At, e.Diagnostic.Location);
        Assert.Contains("lower checks.latency.batch", e.Message);
    }

    private sealed class CountingSource(int count) : IEvaluationSource
    {
        public int Produced { get; private set; }
        public int Count => count;
        public NdArray? Labels => null;

        public IEnumerable<IReadOnlyDictionary<string, NdArray>> Batches(int batchSize)
        {
            for (var start = 0; start < count; start += batchSize)
            {
                Produced++;
                var size = Math.Min(batchSize, count - start);
                yield return new Dictionary<string, NdArray> { ["x"] = NdArray.Of(new float[size], size, 1) };
            }
        }
    }

    // ---- image folders ----

    private void Png(string relative, int w, int h, Func<int, int, Rgb24> color)
    {
        var path = PathOf(relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var image = new Image<Rgb24>(w, h);
        for (var y = 0; y < h; y++)
            for (var x = 0; x < w; x++)
                image[x, y] = color(x, y);
        image.SaveAsPng(path);
    }

    [Fact]
    public void Image_folder_classes_are_sorted_subfolders_and_pixels_normalized_per_channel()
    {
        Png("imgs/dog/a.png", 2, 2, (_, _) => new Rgb24(255, 0, 51));
        Png("imgs/cat/b.png", 2, 2, (_, _) => new Rgb24(0, 255, 102));
        Png("imgs/cat/c.png", 2, 2, (_, _) => new Rgb24(0, 0, 0));
        File.WriteAllText(PathOf("imgs/cat/notes.txt"), "not an image");
        var pre = new ImagePreprocessing { Mean = [0.5, 0.5, 0.5], Std = [0.5, 0.25, 1] };
        var source = ImageFolderSource.Open(PathOf("imgs"), pre, [Input("x", null, 3, 2, 2)], null, At);

        Assert.Equal(new[] { "cat", "dog" }, source.Classes);
        Assert.Equal(new long[] { 0, 0, 1 }, source.Labels!.As<long>());
        var values = All(source, 8);
        Assert.Equal(3 * 12, values.Length);
        // Third image (dog): R=255 → (1-0.5)/0.5 = 1 for the 4 pixels of channel 0; G=0 → -2; B=51 → 0.2-0.5 = -0.3.
        Assert.Equal(new float[] { 1, 1, 1, 1 }, values[24..28]);
        Assert.Equal(new float[] { -2, -2, -2, -2 }, values[28..32]);
        Assert.Equal(-0.3f, values[32], 5);
    }

    [Fact]
    public void Images_are_resized_center_cropped_and_laid_out_nhwc()
    {
        // 8x4 image: left half white, right half black; resized to 4x8 (h x w) then cropped to the middle 2x2.
        Png("imgs/a/x.png", 8, 4, (x, _) => x < 4 ? new Rgb24(255, 255, 255) : new Rgb24(0, 0, 0));
        var pre = new ImagePreprocessing { Size = [4, 8], Crop = [2, 2], Layout = ImageLayout.Nhwc };
        var source = ImageFolderSource.Open(PathOf("imgs"), pre, [Input("x", null, 2, 2, 3)], null, At);
        var batch = source.Batches(1).Single()["x"];
        Assert.Equal(new long[] { 1, 2, 2, 3 }, batch.Shape);
        var v = batch.As<float>();
        // NHWC: pixel (0,0) is the left (white) column, pixel (0,1) the right (black) one.
        Assert.True(v[0] > 0.9f && v[1] > 0.9f && v[2] > 0.9f, string.Join(",", v));
        Assert.True(v[3] < 0.1f && v[4] < 0.1f && v[5] < 0.1f, string.Join(",", v));
    }

    [Fact]
    public void Grayscale_inputs_get_one_channel()
    {
        Png("imgs/a/x.png", 2, 2, (_, _) => new Rgb24(255, 255, 255));
        var source = ImageFolderSource.Open(PathOf("imgs"), new ImagePreprocessing(), [Input("x", null, 1, 2, 2)], null, At);
        Assert.Equal(new float[] { 1, 1, 1, 1 }, All(source, 1));
    }

    [Fact]
    public void A_corrupt_image_is_MB2010_and_a_wrong_size_MB2011()
    {
        Png("imgs/a/x.png", 3, 3, (_, _) => default);
        File.WriteAllBytes(PathOf("imgs/a/y.png"), [0x89, (byte)'P', (byte)'N', (byte)'G', 1, 2, 3]);
        var corrupt = ImageFolderSource.Open(PathOf("imgs"), new ImagePreprocessing { Size = [2, 2] }, [Input("x", null, 3, 2, 2)], null, At);
        var e = Assert.Throws<ModelBuildException>(() => All(corrupt, 8));
        Assert.Equal("MB2010", e.Diagnostic.Code);
        Assert.Contains("y.png", e.Message);

        var wrong = ImageFolderSource.Open(PathOf("imgs"), new ImagePreprocessing(), [Input("x", null, 3, 2, 2)], cap: 1, At);
        Assert.Equal("MB2011", Assert.Throws<ModelBuildException>(() => All(wrong, 8)).Diagnostic.Code);
    }

    [Fact]
    public void A_huge_image_is_refused_from_its_header_before_decoding()
    {
        // A valid PNG header claiming 100000 x 100000 pixels (40 GB decoded) and no pixel data.
        static byte[] Chunk(string type, byte[] data)
        {
            var body = System.Text.Encoding.ASCII.GetBytes(type).Concat(data).ToArray();
            var crc = 0xFFFFFFFFu;
            foreach (var b in body)
            {
                crc ^= b;
                for (var k = 0; k < 8; k++) crc = (crc & 1) != 0 ? 0xEDB88320 ^ (crc >> 1) : crc >> 1;
            }
            var chunk = new byte[12 + data.Length];
            System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(chunk, data.Length);
            body.CopyTo(chunk, 4);
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(chunk.AsSpan(8 + data.Length), ~crc);
            return chunk;
        }
        var ihdr = new byte[13];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(ihdr, 100_000);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), 100_000);
        ihdr[8] = 8; ihdr[9] = 2;
        Directory.CreateDirectory(PathOf("imgs/a"));
        File.WriteAllBytes(PathOf("imgs/a/huge.png"), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, .. Chunk("IHDR", ihdr), .. Chunk("IEND", [])]);

        var source = ImageFolderSource.Open(PathOf("imgs"), new ImagePreprocessing(), [Input("x", null, 3, 2, 2)], null, At);
        var before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<ModelBuildException>(() => All(source, 1));
        Assert.Equal("MB2010", e.Diagnostic.Code);
        Assert.Contains("100000x100000", e.Message);
        Assert.InRange(GC.GetAllocatedBytesForCurrentThread() - before, 0, 16L << 20);
    }

    [Fact]
    public void An_image_folder_without_class_folders_is_MB2010()
    {
        Directory.CreateDirectory(PathOf("flat"));
        var e = Assert.Throws<ModelBuildException>(() => ImageFolderSource.Open(PathOf("flat"), new ImagePreprocessing(), [Input("x", null, 3, 2, 2)], null, At));
        Assert.Equal("MB2010", e.Diagnostic.Code);
    }
}
