using ModelBuild.Runtime;

namespace ModelBuild.Serving;

/// <summary>
/// Turns a decoded image into a model's image input: float32 NCHW [batch, C, H, W] or NHWC [batch, H, W, C] with
/// C 1 or 3, or [batch, H, W]. Resizes bilinearly to the model's fixed H×W, converts gray↔RGB, scales to [0,1],
/// then applies (x - mean) / std.
/// </summary>
public static class ImagePreprocessor
{
    public static ModelTensor ToInput(DecodedImage image, TensorSpec spec, float mean, float std)
    {
        if (spec.Type != TensorType.Float32 || spec.Dims.Count is not (3 or 4))
            throw RequestException.BadRequest($"/predict needs a model whose image input is float32 [batch,C,H,W], [batch,H,W,C] or [batch,H,W]; '{spec.Name}' is {spec}");
        var d = spec.Dims;
        int channels, height, width;
        bool channelsLast;
        if (d.Count == 3) (channels, height, width, channelsLast) = (1, (int)d[1], (int)d[2], false);
        else if (d[1] is 1 or 3) (channels, height, width, channelsLast) = ((int)d[1], (int)d[2], (int)d[3], false);
        else if (d[3] is 1 or 3) (channels, height, width, channelsLast) = ((int)d[3], (int)d[1], (int)d[2], true);
        else throw RequestException.BadRequest($"/predict cannot tell the channel axis of '{spec.Name}' {spec.ShapeText}");
        if (height <= 0 || width <= 0)
            throw RequestException.BadRequest($"/predict needs fixed image height and width; '{spec.Name}' is {spec.ShapeText}");

        var data = new float[channels * height * width];
        for (var y = 0; y < height; y++)
            for (var x = 0; x < width; x++)
                for (var c = 0; c < channels; c++)
                {
                    var v = (Sample(image, x, y, width, height, c, channels) / 255f - mean) / std;
                    data[channelsLast ? (y * width + x) * channels + c : (c * height + y) * width + x] = v;
                }
        long[] shape = d.Count == 3 ? [1, height, width] : channelsLast ? [1, height, width, channels] : [1, channels, height, width];
        return new ModelTensor(spec.Name, data, shape);
    }

    /// <summary>Bilinear sample (pixel centres aligned) of channel <paramref name="c"/> as the model wants it.</summary>
    private static float Sample(DecodedImage image, int x, int y, int width, int height, int c, int channels)
    {
        var sx = Math.Clamp((x + 0.5f) * image.Width / width - 0.5f, 0, image.Width - 1);
        var sy = Math.Clamp((y + 0.5f) * image.Height / height - 0.5f, 0, image.Height - 1);
        int x0 = (int)sx, y0 = (int)sy, x1 = Math.Min(x0 + 1, image.Width - 1), y1 = Math.Min(y0 + 1, image.Height - 1);
        float fx = sx - x0, fy = sy - y0;
        var top = Pixel(image, x0, y0, c, channels) * (1 - fx) + Pixel(image, x1, y0, c, channels) * fx;
        var bottom = Pixel(image, x0, y1, c, channels) * (1 - fx) + Pixel(image, x1, y1, c, channels) * fx;
        return top * (1 - fy) + bottom * fy;
    }

    private static float Pixel(DecodedImage image, int x, int y, int c, int channels)
    {
        var o = (y * image.Width + x) * image.Channels;
        if (image.Channels == channels) return image.Pixels[o + c];
        if (image.Channels == 1) return image.Pixels[o];
        // RGB to gray with the ITU-R BT.601 weights PIL's convert("L") uses.
        return 0.299f * image.Pixels[o] + 0.587f * image.Pixels[o + 1] + 0.114f * image.Pixels[o + 2];
    }
}
