using ModelBuild.Runtime;

namespace ModelBuild.Serving;

/// <summary>
/// Turns a decoded image into a model's image input (float32 [batch, C, H, W], [batch, H, W, C] with C 1 or 3, or
/// [batch, H, W]) with the model's one <see cref="ImagePreprocessing"/>: the code the build's evaluation ran, so an
/// image gets the prediction here that it got in the report.
/// </summary>
public static class ImagePreprocessor
{
    public static ModelTensor ToInput(DecodedImage image, TensorSpec spec, ImagePreprocessing preprocessing)
    {
        if (spec.Type != TensorType.Float32 || spec.Dims.Count is not (3 or 4))
            throw RequestException.BadRequest($"/predict needs a model whose image input is float32 [batch,C,H,W], [batch,H,W,C] or " +
                $"[batch,H,W]; '{spec.Name}' is {spec}");
        var d = spec.Dims;
        var nchw = preprocessing.Layout == ImageLayout.Nchw;
        var (channels, height, width) = d.Count == 3 ? (1L, d[1], d[2]) : nchw ? (d[1], d[2], d[3]) : (d[3], d[1], d[2]);
        if (channels is not (1 or 3))
            throw RequestException.BadRequest($"/predict: '{spec.Name}' {spec.ShapeText} has {channels} channels as " +
                $"{preprocessing.Layout.ToString().ToUpperInvariant()}; images give 1 or 3");
        if (height <= 0 || width <= 0)
            throw RequestException.BadRequest($"/predict needs fixed image height and width; '{spec.Name}' is {spec.ShapeText}");

        // Without a declared size, the image is resized to the model's: /predict takes photos of any size.
        var pre = preprocessing.Size is null && preprocessing.Crop is null ? preprocessing with { Size = [(int)height, (int)width] } : preprocessing;
        var (outH, outW) = pre.OutputSize(image.Height, image.Width);
        if (outH != height || outW != width)
            throw RequestException.BadRequest($"/predict: the image comes out {outW}x{outH} after preprocessing, but '{spec.Name}' takes " +
                $"{width}x{height} (width x height)");
        float[] data;
        try
        {
            data = pre.Apply(image.Pixels, image.Width, image.Height, image.Channels, (int)channels);
        }
        catch (ArgumentException e)
        {
            throw RequestException.BadRequest($"/predict: {e.Message}");
        }
        long[] shape = d.Count == 3 ? [1, height, width] : nchw ? [1, channels, height, width] : [1, height, width, channels];
        return new ModelTensor(spec.Name, data, shape);
    }
}
