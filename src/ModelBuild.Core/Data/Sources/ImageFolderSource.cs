using ModelBuild.Diagnostics;
using ModelBuild.Onnx;
using ModelBuild.Runtime;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace ModelBuild.Data.Sources;

/// <summary>
/// An image folder with one subfolder per class (sorted by name: the first is class 0), like torchvision's
/// ImageFolder. Each image is decoded (ImageSharp, as RGB) when its batch is read and turned into the model's input
/// by the model's one <see cref="ImagePreprocessing"/>, the same code /predict, the typed model classes and Triton's
/// preprocessing model apply. Undecodable, unsupported or absurdly large images are MB2010.
/// </summary>
public sealed class ImageFolderSource : IEvaluationSource
{
    /// <summary>Largest image accepted, in pixels, checked from the header before decoding.</summary>
    public const long MaxPixels = 64L << 20;

    public static readonly string[] Extensions = [".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tga", ".tif", ".tiff", ".webp"];

    private readonly IReadOnlyList<string> _files;
    private readonly TensorInfo _input;
    private readonly ImagePreprocessing _pre;
    private readonly int _channels, _height, _width;
    private readonly SourceLocation _location;

    private ImageFolderSource(IReadOnlyList<string> files, NdArray labels, TensorInfo input, ImagePreprocessing pre, int channels, int height,
        int width, SourceLocation location)
    {
        _files = files;
        Labels = labels;
        _input = input;
        _pre = pre;
        (_channels, _height, _width) = (channels, height, width);
        _location = location;
    }

    public int Count => _files.Count;
    public NdArray? Labels { get; }

    /// <summary>The class names, in label order.</summary>
    public IReadOnlyList<string> Classes { get; private init; } = [];

    public static ImageFolderSource Open(string directory, ImagePreprocessing pre, IReadOnlyList<TensorInfo> modelInputs,
        int? cap, SourceLocation location)
    {
        var input = SampleShape.Target(modelInputs, null, directory, location);
        SampleShape.CheckFloat(input, directory, location);
        if (input.Dims.Count != 4)
            throw SampleShape.Mismatch(location, $"an image folder feeds a 4-D input (N,C,H,W or N,H,W,C), but model input '{input.Name}' is " +
                $"[{string.Join(",", input.Dims)}].");
        var (c, h, w) = pre.Layout == ImageLayout.Nchw
            ? (input.Dims[1], input.Dims[2], input.Dims[3])
            : (input.Dims[3], input.Dims[1], input.Dims[2]);
        var channels = (int)(c.Size ?? 3);
        if (channels is not (1 or 3))
            throw SampleShape.Mismatch(location, $"model input '{input.Name}' has {channels} channels in " +
                $"{pre.Layout.ToString().ToUpperInvariant()} layout; images give 1 (grayscale) or 3 (RGB). Check 'layout'.");
        try
        {
            pre.CheckPerChannel(channels);
        }
        catch (ArgumentException e)
        {
            throw SampleShape.Mismatch(location, e.Message + ".");
        }
        var declared = pre.Crop ?? pre.Size;
        var target = (declared is { } d ? (Height: d[0], Width: d[1]) : default((int Height, int Width)?))
            ?? (h.Size is { } fh && w.Size is { } fw ? ((int)fh, (int)fw) : default((int Height, int Width)?))
            ?? throw SampleShape.Mismatch(location, $"model input '{input.Name}' has dynamic height/width; give 'size' (or 'crop') for the images.");
        if ((h.Size is { } mh && mh != target.Height) || (w.Size is { } mw && mw != target.Width))
            throw SampleShape.Mismatch(location,
                $"images come out {target.Height}x{target.Width} (after size/crop) but model input '{input.Name}' is " +
                $"[{string.Join(",", input.Dims)}] in {pre.Layout.ToString().ToUpperInvariant()} layout.");

        var classes = Directory.GetDirectories(directory).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        if (classes.Count == 0)
            throw SampleShape.Unreadable(directory, "an image folder holds one subfolder per class (e.g. cat/, dog/), and this one has none");
        var files = new List<string>();
        var labels = new List<long>();
        for (var k = 0; k < classes.Count; k++)
            foreach (var f in Directory.EnumerateFiles(Path.Combine(directory, classes[k]!), "*", SearchOption.AllDirectories)
                         .Where(f => Extensions.Contains(Path.GetExtension(f).ToLowerInvariant())).Order(StringComparer.Ordinal))
            {
                files.Add(f);
                labels.Add(k);
            }
        if (files.Count == 0)
            throw SampleShape.Mismatch(location, $"'{directory}' holds no images ({string.Join(", ", Extensions)}) in its class folders.");
        var count = Math.Min(files.Count, cap ?? files.Count);
        return new ImageFolderSource(files.Take(count).ToList(), NdArray.Of(labels.Take(count).ToArray(), count), input, pre, channels,
            target.Height, target.Width, location)
        {
            Classes = classes!,
        };
    }

    public IEnumerable<IReadOnlyDictionary<string, NdArray>> Batches(int batchSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        var sample = _channels * _height * _width;
        for (var start = 0; start < Count; start += batchSize)
        {
            var size = Math.Min(batchSize, Count - start);
            var values = new float[size * sample];
            for (var i = 0; i < size; i++)
                Decode(_files[start + i]).CopyTo(values.AsSpan(i * sample, sample));
            long[] shape = _pre.Layout == ImageLayout.Nchw ? [size, _channels, _height, _width] : [size, _height, _width, _channels];
            yield return new Dictionary<string, NdArray>(StringComparer.Ordinal)
            {
                [_input.Name] = SampleShape.ToInputType(_input, shape, values),
            };
        }
    }

    private float[] Decode(string file)
    {
        Image<Rgb24> image;
        try
        {
            var info = Image.Identify(file) ?? throw SampleShape.Unreadable(file, "it is not an image in a supported format");
            if ((long)info.Width * info.Height > MaxPixels)
                throw SampleShape.Unreadable(file, $"the image is {info.Width}x{info.Height}, over the {MaxPixels}-pixel limit");
            image = Image.Load<Rgb24>(file);
        }
        catch (Exception e) when (e is UnknownImageFormatException or InvalidImageContentException or ImageFormatException
            or NotSupportedException or IOException)
        {
            throw SampleShape.Unreadable(file, $"cannot decode the image ({e.Message.TrimEnd('.')})", e);
        }
        using (image)
        {
            var (outH, outW) = _pre.OutputSize(image.Height, image.Width);
            if (outH != _height || outW != _width)
                throw new ModelBuildException(DiagnosticCodes.DataMismatch,
                    $"'{file}' is {image.Width}x{image.Height} (width x height) and comes out {outW}x{outH}, but the model takes " +
                    $"{_width}x{_height}; give 'size' and/or 'crop'.", _location);
            var pixels = new byte[image.Width * image.Height * 3];
            image.CopyPixelDataTo(pixels);
            try
            {
                return _pre.Apply(pixels, image.Width, image.Height, 3, _channels);
            }
            catch (ArgumentException e)
            {
                throw new ModelBuildException(DiagnosticCodes.DataMismatch, $"'{file}': {e.Message}.", _location);
            }
        }
    }
}
