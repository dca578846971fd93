using System.Text.Json;
using System.Text.Json.Serialization;

namespace ModelBuild.Runtime;

/// <summary>How an image's channels are laid out in a model input.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<ImageLayout>))]
public enum ImageLayout
{
    /// <summary>[batch, channels, height, width] (PyTorch).</summary>
    [JsonStringEnumMemberName("nchw")]
    Nchw,

    /// <summary>[batch, height, width, channels] (TensorFlow, many mobile models).</summary>
    [JsonStringEnumMemberName("nhwc")]
    Nhwc,
}

/// <summary>
/// A model's image preprocessing, the one definition (deploy.yaml's <c>preprocess</c>) and the one implementation
/// that evaluation, <c>modelbuild serve</c>'s /predict, the typed model classes and (as ONNX operators) Triton's
/// preprocessing model all apply, so an image gets the same prediction wherever it enters. In order:
/// channels (gray ↔ RGB, ITU-R BT.601 weights as PIL's convert("L"); alpha dropped), resize to <see cref="Size"/>
/// (bilinear, pixel centres aligned: ONNX Resize linear/half_pixel, no antialiasing), centre crop to
/// <see cref="Crop"/>, then <c>(x / scale − mean) / std</c> per channel, laid out as <see cref="Layout"/>. The build
/// records it as <c>models/&lt;model&gt;/</c><see cref="FileName"/> (see <see cref="DeployedModels.Preprocessing"/>).
/// </summary>
public sealed record ImagePreprocessing
{
    /// <summary>The file the build records the definition in, <c>models/&lt;model&gt;/preprocess.json</c>.</summary>
    public const string FileName = "preprocess.json";

    /// <summary>[height, width] to resize to; null keeps the image's size.</summary>
    public int[]? Size { get; init; }

    /// <summary>[height, width] cut from the centre after resizing; null keeps it all.</summary>
    public int[]? Crop { get; init; }

    /// <summary>Pixel values are divided by this first (255: bytes to [0, 1]).</summary>
    public double Scale { get; init; } = 255;

    /// <summary>One value for every channel, or one per channel.</summary>
    public double[] Mean { get; init; } = [0.0];

    /// <summary>One value for every channel, or one per channel.</summary>
    public double[] Std { get; init; } = [1.0];

    /// <summary>The model input's layout (NCHW: PyTorch's).</summary>
    public ImageLayout Layout { get; init; } = ImageLayout.Nchw;

    /// <summary>Equal when every setting is: sizes and per-channel values compare element by element.</summary>
    public bool Equals(ImagePreprocessing? other) =>
        other is not null && Scale.Equals(other.Scale) && Layout == other.Layout && Same(Size, other.Size) && Same(Crop, other.Crop)
        && Mean.AsSpan().SequenceEqual(other.Mean) && Std.AsSpan().SequenceEqual(other.Std);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Scale, Layout, Size?.Length, Mean.Length, Std.Length);

    private static bool Same(int[]? a, int[]? b) => a is null ? b is null : b is not null && a.AsSpan().SequenceEqual(b);

    /// <summary>The [height, width] an image of the given size comes out as.</summary>
    public (int Height, int Width) OutputSize(int imageHeight, int imageWidth) =>
        Crop is { } c ? (c[0], c[1]) : Size is { } s ? (s[0], s[1]) : (imageHeight, imageWidth);

    /// <summary>
    /// One image as model input values: <paramref name="pixels"/> are interleaved bytes, row by row, with
    /// <paramref name="pixelChannels"/> per pixel (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA). Returns
    /// <paramref name="modelChannels"/> (1 or 3) × the output size, in <see cref="Layout"/> without the batch axis.
    /// </summary>
    /// <exception cref="ArgumentException">Inconsistent sizes, channels, or a crop larger than the image.</exception>
    public float[] Apply(ReadOnlySpan<byte> pixels, int width, int height, int pixelChannels, int modelChannels)
    {
        if (width <= 0 || height <= 0 || pixelChannels is < 1 or > 4 || modelChannels is not (1 or 3))
            throw new ArgumentException($"an image of {width}x{height} with {pixelChannels} channel(s) for a " +
                $"{modelChannels}-channel input cannot be preprocessed");
        if ((long)width * height * pixelChannels != pixels.Length)
            throw new ArgumentException($"{pixels.Length} bytes are not {width}x{height} pixels of {pixelChannels} channel(s)");
        CheckPerChannel(modelChannels);

        var image = Channels(pixels, width, height, pixelChannels, modelChannels);
        var (h, w) = (height, width);
        if (Size is { } size)
        {
            image = Resize(image, h, w, modelChannels, size[0], size[1]);
            (h, w) = (size[0], size[1]);
        }
        var (top, left) = (0, 0);
        var (outH, outW) = (h, w);
        if (Crop is { } crop)
        {
            if (crop[0] > h || crop[1] > w)
                throw new ArgumentException($"crop {crop[0]}x{crop[1]} (height x width) is larger than the {h}x{w} image it is cut from");
            (top, left, outH, outW) = ((h - crop[0]) / 2, (w - crop[1]) / 2, crop[0], crop[1]);
        }

        var result = new float[modelChannels * outH * outW];
        for (var c = 0; c < modelChannels; c++)
            for (var y = 0; y < outH; y++)
                for (var x = 0; x < outW; x++)
                {
                    var v = Normalize(image[((top + y) * w + left + x) * modelChannels + c], c);
                    result[Layout == ImageLayout.Nchw ? (c * outH + y) * outW + x : (y * outW + x) * modelChannels + c] = v;
                }
        return result;
    }

    /// <summary><c>(value / scale − mean) / std</c> for <paramref name="channel"/>, in float32 as every consumer computes it.</summary>
    public float Normalize(float value, int channel) =>
        (value / (float)Scale - (float)Mean[Mean.Length == 1 ? 0 : channel]) / (float)Std[Std.Length == 1 ? 0 : channel];

    /// <summary>Throws when mean or std has neither one value nor one per channel.</summary>
    public void CheckPerChannel(int channels)
    {
        foreach (var (values, name) in new[] { (Mean, "mean"), (Std, "std") })
            if (values.Length != 1 && values.Length != channels)
                throw new ArgumentException($"'{name}' has {values.Length} values but the model input has " +
                    $"{channels} channel(s); give one per channel, or one");
        if (Std.Any(s => s == 0) || Scale == 0)
            throw new ArgumentException("'std' and 'scale' must not be 0");
    }

    // Interleaved float pixels with the model's channel count.
    private static float[] Channels(ReadOnlySpan<byte> pixels, int width, int height, int pixelChannels, int modelChannels)
    {
        var result = new float[width * height * modelChannels];
        for (var p = 0; p < width * height; p++)
        {
            var o = p * pixelChannels;
            if (modelChannels == 1)
                result[p] = pixelChannels >= 3
                    ? 0.299f * pixels[o] + 0.587f * pixels[o + 1] + 0.114f * pixels[o + 2]
                    : pixels[o];
            else
                for (var c = 0; c < 3; c++)
                    result[p * 3 + c] = pixelChannels >= 3 ? pixels[o + c] : pixels[o];
        }
        return result;
    }

    // Bilinear with half-pixel centres, source coordinates clamped to the image: what ONNX Runtime's Resize
    // (mode linear, coordinate_transformation_mode half_pixel) computes, in the same float arithmetic.
    private static float[] Resize(float[] image, int height, int width, int channels, int outHeight, int outWidth)
    {
        var result = new float[outHeight * outWidth * channels];
        var scaleY = (float)outHeight / height;
        var scaleX = (float)outWidth / width;
        for (var y = 0; y < outHeight; y++)
        {
            var sy = Math.Clamp((y + 0.5f) / scaleY - 0.5f, 0f, height - 1);
            var y0 = (int)sy;
            var y1 = Math.Min(y0 + 1, height - 1);
            var fy = sy - y0;
            for (var x = 0; x < outWidth; x++)
            {
                var sx = Math.Clamp((x + 0.5f) / scaleX - 0.5f, 0f, width - 1);
                var x0 = (int)sx;
                var x1 = Math.Min(x0 + 1, width - 1);
                var fx = sx - x0;
                for (var c = 0; c < channels; c++)
                {
                    var top = image[(y0 * width + x0) * channels + c] * (1 - fx) + image[(y0 * width + x1) * channels + c] * fx;
                    var bottom = image[(y1 * width + x0) * channels + c] * (1 - fx) + image[(y1 * width + x1) * channels + c] * fx;
                    result[(y * outWidth + x) * channels + c] = top * (1 - fy) + bottom * fy;
                }
            }
        }
        return result;
    }

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>The definition as recorded in <see cref="FileName"/> (snake_case keys, as in deploy.yaml).</summary>
    public string ToJson() => JsonSerializer.Serialize(this, Json).Replace("\r\n", "\n") + "\n";

    /// <summary>Reads a recorded definition.</summary>
    /// <exception cref="InvalidDataException">The file is not a preprocessing definition.</exception>
    public static ImagePreprocessing Read(string path)
    {
        try
        {
            return JsonSerializer.Deserialize<ImagePreprocessing>(File.ReadAllText(path), Json)
                   ?? throw new InvalidDataException($"{path} is empty");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path} is not a preprocessing definition: {e.Message}", e);
        }
    }
}
