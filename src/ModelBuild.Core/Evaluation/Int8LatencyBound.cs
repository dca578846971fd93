using Google.Protobuf;
using ModelBuild.Data;
using ModelBuild.Diagnostics;
using ModelBuild.Execution;
using ModelBuild.Onnx;
using Onnx;

namespace ModelBuild.Evaluation;

/// <summary>One matrix product, [M, K] × [K, N].</summary>
public sealed record GemmShape(long M, long K, long N)
{
    public override string ToString() => $"{M}×{K}×{N}";
}

/// <summary>One shape's product timed alone on one intra-op thread: float32 MatMul and the faster int8 kernel.</summary>
public sealed record GemmKernelTime(GemmShape Shape, double Fp32Microseconds, double Int8Microseconds, string Int8Kernel)
{
    public double Speedup => Fp32Microseconds / Int8Microseconds;

    /// <summary>Multiply-accumulates per second of the int8 kernel, in billions.</summary>
    public double Int8Gmacs => (double)Shape.M * Shape.K * Shape.N / Int8Microseconds / 1e3;
}

/// <summary>
/// The lowest latency ratio to float32 that any int8 variant of a model can reach with this ONNX Runtime on this CPU
/// (Amdahl's law), to tell a target that needs a better recipe from one that needs faster kernels. The float model is
/// profiled node by node; every product with a constant weight (MatMul, FusedMatMul, Gemm, FusedGemm, and Attention's
/// packed Q/K/V projection) is charged what the faster of ONNX Runtime's int8 GEMM kernels takes at its shape timed
/// alone, every other node keeps its float time, and the (de)quantization int8 adds is charged nothing — so no int8
/// variant of these kernels runs faster than <see cref="Ratio"/>.
/// </summary>
/// <param name="Fp32Microseconds">The float model's kernel times summed (one run).</param>
/// <param name="GemmMicroseconds">The part of it spent in products with a constant weight.</param>
/// <param name="BoundMicroseconds">The same run with those products at int8 kernel speed.</param>
/// <param name="ConvMicroseconds">
/// The part spent in convolutions, which this does not cover: where it is more than a sliver the ratio bounds nothing.
/// </param>
public sealed record Int8LatencyBound(double Fp32Microseconds, double GemmMicroseconds, double BoundMicroseconds, double ConvMicroseconds,
    IReadOnlyList<GemmKernelTime> Kernels)
{
    /// <summary>Convolution time above this share of the model's makes <see cref="Ratio"/> no bound.</summary>
    public const double MaxConvShare = 0.02;

    public double Ratio => BoundMicroseconds / Fp32Microseconds;

    public double GemmShare => GemmMicroseconds / Fp32Microseconds;

    public double ConvShare => ConvMicroseconds / Fp32Microseconds;

    /// <summary>True when the products it covers are (nearly) all the model's heavy work.</summary>
    public bool Holds => ConvShare <= MaxConvShare;

    public static Int8LatencyBound Measure(string floatModelPath, IReadOnlyDictionary<string, NdArray> inputs, SourceLocation location)
    {
        var profile = NodeProfiler.Profile(floatModelPath, inputs, location);
        var work = Directory.CreateTempSubdirectory("modelbuild-int8-bound-").FullName;
        try
        {
            var kernels = new Dictionary<GemmShape, GemmKernelTime>();
            double total = 0, gemm = 0, bound = 0, conv = 0;
            foreach (var node in profile)
            {
                total += node.Microseconds;
                if (node.OpType.Contains("Conv", StringComparison.Ordinal)) conv += node.Microseconds;
                if (WeightProduct(node) is not { } shape)
                {
                    bound += node.Microseconds;
                    continue;
                }
                if (!kernels.TryGetValue(shape, out var kernel)) kernels[shape] = kernel = Time(shape, work, location);
                // A product node is all product (its time in the graph, weights out of cache, is what is scaled); Attention
                // keeps its softmax core in float: only what its projection takes alone is charged at int8 speed.
                var product = node.OpType == "Attention" ? Math.Min(node.Microseconds, kernel.Fp32Microseconds) : node.Microseconds;
                gemm += product;
                bound += node.Microseconds - product + product / kernel.Speedup;
            }
            return new Int8LatencyBound(total, gemm, bound, conv, kernels.Values.ToList());
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    /// <summary>
    /// The product a node computes with a constant weight, from the shapes ONNX Runtime's trace lists (it leaves out
    /// the weight its kernel pre-packed, so a MatMul with one listed input, or a Gemm with A and its bias, multiplies
    /// by a weight); null for anything else.
    /// </summary>
    internal static GemmShape? WeightProduct(NodeTime node)
    {
        static long Count(long[] shape) => shape.Aggregate(1L, (a, d) => a * d);
        if (node.OpType == "Attention")
        {
            // [batch, sequence, hidden] × packed Q/K/V weights [hidden, 3·hidden] (equal Q/K/V sizes, the fused default).
            if (node.Inputs.Count == 0 || node.Inputs[0] is not [var b, var s, var h] || b * s * h <= 0) return null;
            return new GemmShape(b * s, h, 3 * h);
        }
        if (node.OpType is not ("MatMul" or "FusedMatMul" or "Gemm" or "FusedGemm")) return null;
        if (node.Inputs.Count == 0 || node.Outputs.Count == 0 || node.Outputs[0].Length == 0) return null;
        var output = node.Outputs[0];
        var n = output[^1];
        // What follows A may only be a bias of N values; any other listed operand makes it a product of two activations.
        if (node.Inputs.Skip(1).Any(i => Count(i) != n)) return null;
        var rows = n > 0 ? Count(output) / n : 0;
        var a = Count(node.Inputs[0]);
        if (rows <= 0 || a <= 0 || a % rows != 0) return null;
        return new GemmShape(rows, a / rows, n);
    }

    /// <summary>p50 of float32 MatMul and of each int8 kernel at one shape, weights and inputs random (speed does not depend on them).</summary>
    private static GemmKernelTime Time(GemmShape shape, string work, SourceLocation location)
    {
        var rng = new Random(11);
        var (m, k, n) = ((int)shape.M, (int)shape.K, (int)shape.N);
        var a = new float[m * k];
        for (var i = 0; i < a.Length; i++) a[i] = (float)(rng.NextDouble() * 2 - 1);
        var a8 = new byte[m * k];
        rng.NextBytes(a8);
        var weights = new float[k * n];
        for (var i = 0; i < weights.Length; i++) weights[i] = (float)(rng.NextDouble() * 0.1 - 0.05);
        var weights8 = new sbyte[k * n];
        for (var i = 0; i < weights8.Length; i++) weights8[i] = (sbyte)rng.Next(-127, 128);

        var floatInput = new Dictionary<string, NdArray> { ["A"] = new(TensorElementType.Float32, [m, k], a) };
        var byteInput = new Dictionary<string, NdArray> { ["A"] = new(TensorElementType.UInt8, [m, k], a8) };
        var fp32 = P50(work, "MatMul", shape, floatInput, location, g =>
        {
            g.AddInitializer(TensorData.FromFloats("W", [k, n], weights));
            g.AddNode("MatMul", ["A", "W"], ["Y"], "product");
        });
        var dynamic = P50(work, "DynamicQuantizeMatMul", shape, floatInput, location, g =>
        {
            g.AddInitializer(TensorData.FromInt8s("W", [k, n], weights8));
            g.AddInitializer(TensorData.FromFloats("W_scale", [n], Enumerable.Repeat(0.01f, n).ToArray()));
            g.AddInitializer(TensorData.FromInt8s("W_zero_point", [n], new sbyte[n]));
            g.AddNode("DynamicQuantizeMatMul", ["A", "W", "W_scale", "W_zero_point"], ["Y"], "product", "com.microsoft");
        });
        var integer = P50(work, "MatMulInteger", shape, byteInput, location, g =>
        {
            g.AddInitializer(TensorData.FromInt8s("W", [k, n], weights8));
            g.AddInitializer(TensorData.FromUInt8s("A_zero_point", [], [128]));
            g.AddNode("MatMulInteger", ["A", "W", "A_zero_point"], ["Y"], "product");
        });
        return dynamic <= integer
            ? new GemmKernelTime(shape, fp32, dynamic, "DynamicQuantizeMatMul")
            : new GemmKernelTime(shape, fp32, integer, "MatMulInteger");
    }

    private static double P50(string work, string kernel, GemmShape shape, Dictionary<string, NdArray> input, SourceLocation location,
        Action<GraphEditor> body)
    {
        var model = new ModelProto { IrVersion = 8, Graph = new GraphProto { Name = kernel } };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "com.microsoft", Version = 1 });
        // MatMulInteger takes a uint8 A and returns int32; the others take and return float.
        var output = kernel == "MatMulInteger" ? TensorElementType.Int32 : TensorElementType.Float32;
        model.Graph.Input.Add(OnnxTypes.ValueInfo(new TensorInfo("A", input["A"].ElementType, [Dimension.Fixed(shape.M), Dimension.Fixed(shape.K)])));
        model.Graph.Output.Add(OnnxTypes.ValueInfo(new TensorInfo("Y", output, [Dimension.Fixed(shape.M), Dimension.Fixed(shape.N)])));
        body(new GraphEditor(model));
        var path = Path.Combine(work, $"{kernel}-{shape.M}x{shape.K}x{shape.N}.onnx");
        File.WriteAllBytes(path, model.ToByteArray());
        using var runner = new ModelRunner(path, location, intraOpThreads: 1);
        return 1000 * new LatencyBenchmark(warmupRuns: 5, minRuns: 20, maxRuns: 300, minSeconds: 0.3).Measure(runner, input, (int)shape.M).P50Ms;
    }
}
