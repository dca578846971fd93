namespace ModelBuild.Manifest;

/// <summary>Axis order of an image tensor: channels first (PyTorch's default) or channels last.</summary>
public enum ImageLayout
{
    Nchw,
    Nhwc,
}
