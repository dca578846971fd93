using System.Text;
using ModelBuild.Onnx;

namespace ModelBuild.Data;

/// <summary>
/// Deterministic stand-in inputs for when no evaluation data is given (parity checks, latency runs).
/// </summary>
/// <remarks>
/// Shapes: a dynamic first axis becomes <c>batch</c>; other dynamic axes get sizes by the input's role (see <see cref="Shapes"/>).
/// Values: floats ~ N(0,1) (Box-Muller), integers uniform in [0, 10), bools fair coin flips; an integer input named
/// like a mask (<c>attention_mask</c>, rank ≥ 2) is a padded batch's mask: ones, every other row's last quarter zero.
/// A <see cref="InputValueRange"/> given for an input replaces these: integers uniform in [low, high], floats uniform in [low, high).
/// Each input gets its own generator seeded from <c>seed</c> and the input's name, so the values of one
/// input do not depend on which other inputs the model has. The generator is specified (SplitMix64), unlike
/// System.Random's, so integers and bools are identical everywhere; floats can differ in the last bit across
/// platforms only because Math.Log/Sin/Cos may.
/// </remarks>
public static class SyntheticInputs
{
    /// <param name="text">A WordPiece vocabulary for the model (a vocab.txt beside it): token-id inputs get rows of
    /// everyday English from it instead of uniform ids (see <see cref="WithText"/>).</param>
    public static IReadOnlyDictionary<string, NdArray> Generate(IReadOnlyList<TensorInfo> inputs, int batch, int seed,
        IReadOnlyDictionary<string, InputValueRange>? ranges = null, WordPieceTokenizer? text = null)
    {
        var generated = GenerateValues(inputs, batch, seed, ranges);
        return text is null ? generated : WithText(inputs, generated, text, ranges, out _);
    }

    /// <summary>
    /// Token-id inputs (an integer [batch, seq] input that is no mask, token type or position) as a tokenizer writes
    /// sentences: [CLS] words … [SEP], then [PAD] where the generated attention mask is 0. Left uniform when an id the
    /// rows use lies outside the input's known range (a vocab.txt that does not belong to the model).
    /// </summary>
    public static IReadOnlyDictionary<string, NdArray> WithText(IReadOnlyList<TensorInfo> inputs, IReadOnlyDictionary<string, NdArray> generated,
        WordPieceTokenizer text, IReadOnlyDictionary<string, InputValueRange>? ranges, out IReadOnlyList<string> written)
    {
        var result = new Dictionary<string, NdArray>(generated, StringComparer.Ordinal);
        var names = new List<string>();
        written = names;
        var mask = inputs.FirstOrDefault(IsMask) is { } m && generated.TryGetValue(m.Name, out var maskValues) ? maskValues : null;
        foreach (var input in inputs.Where(IsTokenIds))
        {
            if (!generated.TryGetValue(input.Name, out var current) || current.Shape.Length != 2) continue;
            var (rows, length) = ((int)current.Shape[0], (int)current.Shape[1]);
            var ones = mask is not null && mask.Shape.SequenceEqual(current.Shape) ? mask.ToDoubles() : null;
            var values = new double[rows * length];
            for (var r = 0; r < rows; r++)
            {
                var textLength = ones is null ? length : (int)ones.Skip(r * length).Take(length).Count(v => v != 0);
                var row = text.Row(r, length, textLength);
                for (var t = 0; t < length; t++) values[r * length + t] = row[t];
            }
            if (ranges?.GetValueOrDefault(input.Name) is { } range && values.Any(v => v < range.Low || v > range.High)) continue;
            result[input.Name] = NdArray.FromDoubles(input.ElementType, current.Shape, values);
            names.Add(input.Name);
        }
        return result;
    }

    private static bool IsTokenIds(TensorInfo input) =>
        input.ElementType is TensorElementType.Int64 or TensorElementType.Int32 && input.Dims.Count == 2 && !IsMask(input)
        && !input.Name.Contains("type", StringComparison.OrdinalIgnoreCase) && !input.Name.Contains("position", StringComparison.OrdinalIgnoreCase);

    private static IReadOnlyDictionary<string, NdArray> GenerateValues(IReadOnlyList<TensorInfo> inputs, int batch, int seed,
        IReadOnlyDictionary<string, InputValueRange>? ranges)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        var result = new Dictionary<string, NdArray>(StringComparer.Ordinal);
        var shapes = Shapes(inputs, batch);
        foreach (var input in inputs)
        {
            var shape = shapes[input.Name];
            var count = NdArray.ElementCount(shape);
            if (count > Array.MaxLength)
                throw new ArgumentException($"Input {input} with batch {batch} has {count} elements, too many for one array.", nameof(inputs));
            var rng = new SplitMix64(Mix((ulong)(uint)seed, Fnv1a(input.Name)));
            var range = ranges?.GetValueOrDefault(input.Name);
            result[input.Name] = range is not null
                ? NdArray.FromDoubles(input.ElementType, shape, FillRange(input.ElementType, (int)count, range, rng))
                : IsMask(input) ? NdArray.FromDoubles(input.ElementType, shape, PaddingMask(shape))
                : new NdArray(input.ElementType, shape, Fill(input.ElementType, (int)count, rng));
        }
        return result;
    }

    /// <summary>The concrete shape used for <paramref name="input"/> on its own (see <see cref="Shapes"/>).</summary>
    public static long[] ShapeOf(TensorInfo input, int batch) => Shapes([input], batch)[input.Name];

    /// <summary>A sequence length for token inputs (a text encoder fed one token measures nothing).</summary>
    public const int SequenceLength = 128;

    /// <summary>The side of an image whose height and width are dynamic (a convnet fed 1×1 computes nothing).</summary>
    public const int ImageSide = 224;

    /// <summary>The length of a dynamic signal axis (one second of 16 kHz audio) and of a frame axis of features.</summary>
    public const int SignalLength = 16000;
    public const int FrameCount = 100;

    /// <summary>
    /// Concrete shapes for generated inputs. A dynamic first axis is the batch. Other dynamic axes get a size that makes
    /// the model compute something, by the input's role: token and mask inputs [batch, seq] → <see cref="SequenceLength"/>;
    /// images [batch, c, h, w] or [batch, h, w, c] with 1–4 channels → <see cref="ImageSide"/>; signals [batch, samples]
    /// → <see cref="SignalLength"/>; sequences of feature frames [batch, frames, features] → <see cref="FrameCount"/>.
    /// An input whose first axis is fixed (a recurrent state [2, batch, 64]) is no batched input: its dynamic axes are 1.
    /// Axes with the same name in several inputs get one size, the first one chosen.
    /// </summary>
    public static Dictionary<string, long[]> Shapes(IReadOnlyList<TensorInfo> inputs, int batch)
    {
        var named = new Dictionary<string, long>(StringComparer.Ordinal);
        var result = new Dictionary<string, long[]>(StringComparer.Ordinal);
        foreach (var input in inputs)
        {
            var shape = new long[input.Dims.Count];
            for (var axis = 0; axis < shape.Length; axis++)
            {
                var d = input.Dims[axis];
                if (d.Size is { } fixedSize) { shape[axis] = fixedSize; continue; }
                if (d.Symbol is { Length: > 0 } symbol && named.TryGetValue(symbol, out var same)) { shape[axis] = same; continue; }
                shape[axis] = axis == 0 ? batch : RoleSize(input, axis);
                if (d.Symbol is { Length: > 0 } name) named[name] = shape[axis];
            }
            result[input.Name] = shape;
        }
        return result;
    }

    private static long RoleSize(TensorInfo input, int axis)
    {
        var dims = input.Dims;
        if (!dims[0].IsDynamic) return 1;
        var isFloat = input.ElementType is TensorElementType.Float32 or TensorElementType.Float16 or TensorElementType.Float64;
        static bool Channels(Dimension d) => d.Size is >= 1 and <= 4;
        return (dims.Count, isFloat) switch
        {
            (2, false) => SequenceLength,
            (4, true) when Channels(dims[1]) && axis >= 2 => ImageSide,
            (4, true) when Channels(dims[3]) && axis is 1 or 2 => ImageSide,
            (2, true) => SignalLength,
            (3, true) when axis == 1 && !dims[2].IsDynamic => FrameCount,
            _ => 1,
        };
    }

    private static bool IsMask(TensorInfo input) =>
        input.ElementType is TensorElementType.Int64 or TensorElementType.Int32
        && input.Dims.Count >= 2 && input.Name.Contains("mask", StringComparison.OrdinalIgnoreCase);

    /// <summary>An attention mask as a padded batch has it: ones, and every other sample's last quarter zeros.</summary>
    private static double[] PaddingMask(long[] shape)
    {
        var values = new double[NdArray.ElementCount(shape)];
        var length = shape[^1];
        var padded = length / 4;
        for (long i = 0; i < values.Length; i++)
            values[i] = i / length % 2 == 1 && i % length >= length - padded ? 0 : 1;
        return values;
    }

    private static double[] FillRange(TensorElementType type, int count, InputValueRange range, SplitMix64 rng)
    {
        var values = new double[count];
        var isFloat = type is TensorElementType.Float32 or TensorElementType.Float64 or TensorElementType.Float16;
        var span = (long)Math.Floor(range.High) - (long)Math.Ceiling(range.Low) + 1;
        for (var i = 0; i < count; i++)
            values[i] = isFloat ? range.Low + rng.NextDouble() * (range.High - range.Low)
                : Math.Ceiling(range.Low) + (span <= 1 ? 0 : (long)(rng.Next() % (ulong)span));
        return values;
    }

    private static Array Fill(TensorElementType type, int count, SplitMix64 rng)
    {
        switch (type)
        {
            case TensorElementType.Float32: { var a = new float[count]; for (var i = 0; i < count; i++) a[i] = (float)rng.NextGaussian(); return a; }
            case TensorElementType.Float64: { var a = new double[count]; for (var i = 0; i < count; i++) a[i] = rng.NextGaussian(); return a; }
            case TensorElementType.Float16: { var a = new Half[count]; for (var i = 0; i < count; i++) a[i] = (Half)rng.NextGaussian(); return a; }
            case TensorElementType.Int64: { var a = new long[count]; for (var i = 0; i < count; i++) a[i] = rng.NextBelow(10); return a; }
            case TensorElementType.Int32: { var a = new int[count]; for (var i = 0; i < count; i++) a[i] = rng.NextBelow(10); return a; }
            case TensorElementType.UInt8: { var a = new byte[count]; for (var i = 0; i < count; i++) a[i] = (byte)rng.NextBelow(10); return a; }
            case TensorElementType.Int8: { var a = new sbyte[count]; for (var i = 0; i < count; i++) a[i] = (sbyte)rng.NextBelow(10); return a; }
            case TensorElementType.Bool: { var a = new bool[count]; for (var i = 0; i < count; i++) a[i] = (rng.Next() >> 63) != 0; return a; }
            default: throw new ArgumentOutOfRangeException(nameof(type), type, null);
        }
    }

    private static ulong Fnv1a(string text)
    {
        var hash = 14695981039346656037UL;
        foreach (var b in Encoding.UTF8.GetBytes(text)) hash = (hash ^ b) * 1099511628211UL;
        return hash;
    }

    private static ulong Mix(ulong a, ulong b) => new SplitMix64(a ^ (b * 0x9E3779B97F4A7C15UL)).Next();

    /// <summary>SplitMix64 (Steele et al.): tiny, fast, and fully specified, so results never drift.</summary>
    private sealed class SplitMix64(ulong state)
    {
        private double? _spare;

        public ulong Next()
        {
            var z = state += 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }

        /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
        public double NextDouble() => (Next() >> 11) * (1.0 / (1UL << 53));

        /// <summary>Uniform in [0, n) for small n; the modulo bias (n / 2^64) is negligible.</summary>
        public int NextBelow(int n) => (int)(Next() % (ulong)n);

        public double NextGaussian()
        {
            if (_spare is { } s) { _spare = null; return s; }
            var u1 = 1.0 - NextDouble(); // (0, 1], so the log is finite
            var u2 = NextDouble();
            var r = Math.Sqrt(-2.0 * Math.Log(u1));
            _spare = r * Math.Sin(2 * Math.PI * u2);
            return r * Math.Cos(2 * Math.PI * u2);
        }
    }
}

/// <summary>The values a generated input takes: integers in [Low, High], floats in [Low, High).</summary>
public sealed record InputValueRange(double Low, double High);
