namespace ModelBuild.Targets.Tflite;

// The numbers below are facts of TensorFlow Lite's flatbuffer schema (schema.fbs, file identifier "TFL3"):
// enum values, union member indices and table field slots. Only the members this writer emits are listed.

/// <summary>schema.fbs <c>TensorType</c>.</summary>
public enum TfliteType : sbyte
{
    Float32 = 0,
    Float16 = 1,
    Int32 = 2,
    UInt8 = 3,
    Int64 = 4,
    Bool = 6,
    Int8 = 9,
}

/// <summary>schema.fbs <c>BuiltinOperator</c>.</summary>
public enum TfliteOp
{
    Add = 0,
    AveragePool2D = 1,
    Concatenation = 2,
    Conv2D = 3,
    DepthwiseConv2D = 4,
    DepthToSpace = 5,
    Dequantize = 6,
    Floor = 8,
    FullyConnected = 9,
    Logistic = 14,
    MaxPool2D = 17,
    Mul = 18,
    Relu = 19,
    ReluN1To1 = 20,
    Relu6 = 21,
    Reshape = 22,
    ResizeBilinear = 23,
    Softmax = 25,
    SpaceToDepth = 26,
    Tanh = 28,
    Pad = 34,
    Gather = 36,
    Transpose = 39,
    Mean = 40,
    Sub = 41,
    Div = 42,
    StridedSlice = 45,
    Exp = 47,
    Split = 49,
    Cast = 53,
    Prelu = 54,
    Maximum = 55,
    Minimum = 57,
    Neg = 59,
    PadV2 = 60,
    Slice = 65,
    TransposeConv = 67,
    Log = 73,
    Sum = 74,
    Sqrt = 75,
    Rsqrt = 76,
    Pow = 78,
    ReduceMax = 82,
    ReduceMin = 89,
    Square = 92,
    ResizeNearestNeighbor = 97,
    LeakyRelu = 98,
    SquaredDifference = 99,
    MirrorPad = 100,
    Abs = 101,
    Elu = 111,
    Quantize = 114,
    HardSwish = 117,
    SelectV2 = 123,
    BatchMatMul = 126,

    /// <summary>Codes above this need the int32 <c>builtin_code</c>; the one-byte field then holds this value.</summary>
    PlaceholderForGreaterOpCodes = 127,
    Gelu = 150,
}

/// <summary>schema.fbs <c>BuiltinOptions</c> union: the member's 1-based position (0 is NONE).</summary>
public enum TfliteOptionsType : byte
{
    None = 0,
    Conv2D = 1,
    DepthwiseConv2D = 2,
    Pool2D = 5,
    FullyConnected = 8,
    Softmax = 9,
    Concatenation = 10,
    Add = 11,
    ResizeBilinear = 15,
    Reshape = 17,
    SpaceToDepth = 19,
    Mul = 21,
    Pad = 22,
    Gather = 23,
    Transpose = 26,
    Reducer = 27,
    Sub = 28,
    Div = 29,
    StridedSlice = 32,
    Split = 35,
    Cast = 37,
    Dequantize = 38,
    MaximumMinimum = 39,
    PadV2 = 43,
    Slice = 48,
    Pow = 56,
    TransposeConv = 49,
    ResizeNearestNeighbor = 74,
    LeakyRelu = 75,
    MirrorPad = 77,
    Quantize = 89,
    HardSwish = 91,
    DepthToSpace = 94,
    SelectV2 = 98,
    BatchMatMul = 101,
    Gelu = 116,
}

/// <summary>schema.fbs <c>Padding</c>.</summary>
public enum TflitePadding : sbyte
{
    Same = 0,
    Valid = 1,
}

/// <summary>schema.fbs <c>ActivationFunctionType</c>: an activation an op applies to its own output.</summary>
public enum TfliteActivation : sbyte
{
    None = 0,
    Relu = 1,
    ReluN1To1 = 2,
    Relu6 = 3,
    Tanh = 4,
}
