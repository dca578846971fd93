namespace ModelBuild.Targets.Tflite;

/// <summary>
/// A builtin operator's options table: its union type and the fields set, by slot (a field's position in its
/// schema.fbs table). Fields left out read as the schema's defaults.
/// </summary>
public sealed class TfliteOptions
{
    private TfliteOptions(TfliteOptionsType type, params (int Slot, object Value)[] fields)
    {
        Type = type;
        Fields = fields;
    }

    public TfliteOptionsType Type { get; }

    /// <summary>Values are sbyte (enums), int, float, bool or int[] (a vector).</summary>
    public IReadOnlyList<(int Slot, object Value)> Fields { get; }

    /// <summary>An options table with no fields: some readers (ArmNN) crash on an operator without its table.</summary>
    public static TfliteOptions Empty(TfliteOptionsType type) => new(type);

    // Conv2DOptions: padding, stride_w, stride_h, fused_activation_function, dilation_w_factor, dilation_h_factor.
    public static TfliteOptions Conv2D(TflitePadding padding, int strideW, int strideH, TfliteActivation activation, int dilationW, int dilationH) =>
        new(TfliteOptionsType.Conv2D, (0, (sbyte)padding), (1, strideW), (2, strideH), (3, (sbyte)activation), (4, dilationW), (5, dilationH));

    // DepthwiseConv2DOptions: padding, stride_w, stride_h, depth_multiplier, fused_activation_function, dilation_w, dilation_h.
    public static TfliteOptions DepthwiseConv2D(
        TflitePadding padding, int strideW, int strideH, int multiplier, TfliteActivation activation, int dilationW, int dilationH) =>
        new(TfliteOptionsType.DepthwiseConv2D, (0, (sbyte)padding), (1, strideW), (2, strideH), (3, multiplier), (4, (sbyte)activation),
            (5, dilationW), (6, dilationH));

    // TransposeConvOptions: padding, stride_w, stride_h, fused_activation_function.
    public static TfliteOptions TransposeConv(TflitePadding padding, int strideW, int strideH) =>
        new(TfliteOptionsType.TransposeConv, (0, (sbyte)padding), (1, strideW), (2, strideH));

    // Pool2DOptions: padding, stride_w, stride_h, filter_width, filter_height, fused_activation_function.
    public static TfliteOptions Pool2D(TflitePadding padding, int strideW, int strideH, int filterW, int filterH, TfliteActivation activation) =>
        new(TfliteOptionsType.Pool2D, (0, (sbyte)padding), (1, strideW), (2, strideH), (3, filterW), (4, filterH), (5, (sbyte)activation));

    // FullyConnectedOptions: fused_activation_function, weights_format, keep_num_dims.
    public static TfliteOptions FullyConnected(TfliteActivation activation, bool keepNumDims) =>
        keepNumDims
            ? new(TfliteOptionsType.FullyConnected, (0, (sbyte)activation), (2, true))
            : new(TfliteOptionsType.FullyConnected, (0, (sbyte)activation));

    // SoftmaxOptions: beta.
    public static TfliteOptions Softmax(float beta) => new(TfliteOptionsType.Softmax, (0, beta));

    // ConcatenationOptions: axis, fused_activation_function.
    public static TfliteOptions Concatenation(int axis) => new(TfliteOptionsType.Concatenation, (0, axis), (1, (sbyte)TfliteActivation.None));

    // Add/Sub/Mul/DivOptions: fused_activation_function first.
    public static TfliteOptions Binary(TfliteOptionsType type, TfliteActivation activation) => new(type, (0, (sbyte)activation));

    // ReshapeOptions: new_shape (also given as the second input; ArmNN 20.08 reads the option).
    public static TfliteOptions Reshape(int[] shape) => new(TfliteOptionsType.Reshape, (0, shape));

    // ReducerOptions: keep_dims.
    public static TfliteOptions Reducer(bool keepDims) => new(TfliteOptionsType.Reducer, (0, keepDims));

    // ResizeBilinearOptions: new_height (deprecated), new_width (deprecated), align_corners, half_pixel_centers.
    public static TfliteOptions ResizeBilinear(bool alignCorners, bool halfPixelCenters) =>
        new(TfliteOptionsType.ResizeBilinear, (2, alignCorners), (3, halfPixelCenters));

    // ResizeNearestNeighborOptions: align_corners, half_pixel_centers.
    public static TfliteOptions ResizeNearest(bool alignCorners, bool halfPixelCenters) =>
        new(TfliteOptionsType.ResizeNearestNeighbor, (0, alignCorners), (1, halfPixelCenters));

    // LeakyReluOptions: alpha.
    public static TfliteOptions LeakyRelu(float alpha) => new(TfliteOptionsType.LeakyRelu, (0, alpha));

    // GatherOptions: axis, batch_dims.
    public static TfliteOptions Gather(int axis) => new(TfliteOptionsType.Gather, (0, axis));

    // BatchMatMulOptions: adj_x, adj_y.
    public static TfliteOptions BatchMatMul() => new(TfliteOptionsType.BatchMatMul, (0, false), (1, false));

    // SplitOptions: num_splits.
    public static TfliteOptions Split(int count) => new(TfliteOptionsType.Split, (0, count));

    // StridedSliceOptions: begin_mask, end_mask, ellipsis_mask, new_axis_mask, shrink_axis_mask.
    public static TfliteOptions StridedSlice() => new(TfliteOptionsType.StridedSlice, (0, 0), (1, 0));

    // MirrorPadOptions: mode (REFLECT = 0, SYMMETRIC = 1).
    public static TfliteOptions MirrorPad(bool symmetric) => new(TfliteOptionsType.MirrorPad, (0, (sbyte)(symmetric ? 1 : 0)));

    // DepthToSpaceOptions: block_size.
    public static TfliteOptions DepthToSpace(int blockSize) => new(TfliteOptionsType.DepthToSpace, (0, blockSize));

    // CastOptions: in_data_type, out_data_type.
    public static TfliteOptions Cast(TfliteType from, TfliteType to) => new(TfliteOptionsType.Cast, (0, (sbyte)from), (1, (sbyte)to));

    // GeluOptions: approximate.
    public static TfliteOptions Gelu(bool approximate) => new(TfliteOptionsType.Gelu, (0, approximate));
}
