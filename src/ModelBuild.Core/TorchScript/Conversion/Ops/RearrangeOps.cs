namespace ModelBuild.TorchScript.Conversion.Ops;

/// <summary>Ops that move elements without computing: pixel_shuffle/pixel_unshuffle (sub-pixel convolution), roll
/// (shifted windows), repeat/tile, meshgrid. Each is Reshape/Transpose/Slice/Concat/Tile/Expand in ONNX.</summary>
public static class RearrangeOps
{
    public static void Register(OpRegistry r)
    {
        r.Add(PixelShuffle, "pixel_shuffle");
        r.Add(PixelUnshuffle, "pixel_unshuffle");
        r.Add(Roll, "roll");
        r.Add(Repeat, "repeat");
        r.Add(Tile, "tile");
        r.Add(Meshgrid, "meshgrid");
    }

    /// <summary>[N, C·r², H, W] → [N, C, H·r, W·r]: channel c·r²+i·r+j lands at (h·r+i, w·r+j).</summary>
    private static object PixelShuffle(OpCall c)
    {
        var x = c.Tensor(0, "self");
        var f = c.Int(1, "upscale_factor");
        if (x.Rank != 4) throw c.Unsupported($"pixel_shuffle of a rank-{x.Rank} tensor");
        var ch = x.Dims[1].Value ?? throw c.Unsupported("pixel_shuffle with a dynamic channel count");
        if (ch % (f * f) != 0) throw c.Unsupported($"pixel_shuffle of {ch} channels by {f}");
        SymInt n = x.Dims[0], h = x.Dims[2], w = x.Dims[3];
        var split = c.E.Reshape(x, [n, SymInt.Of(ch / (f * f)), SymInt.Of(f), SymInt.Of(f), h, w]);
        var moved = c.E.Transpose(split, [0, 1, 4, 2, 5, 3]);
        return c.E.Reshape(moved, [n, SymInt.Of(ch / (f * f)), Times(c, h, f), Times(c, w, f)]);
    }

    /// <summary>The inverse: [N, C, H·r, W·r] → [N, C·r², H, W].</summary>
    private static object PixelUnshuffle(OpCall c)
    {
        var x = c.Tensor(0, "self");
        var f = c.Int(1, "downscale_factor");
        if (x.Rank != 4) throw c.Unsupported($"pixel_unshuffle of a rank-{x.Rank} tensor");
        var ch = x.Dims[1].Value ?? throw c.Unsupported("pixel_unshuffle with a dynamic channel count");
        var h = x.Dims[2].Value ?? throw c.Unsupported("pixel_unshuffle over a dynamic height");
        var w = x.Dims[3].Value ?? throw c.Unsupported("pixel_unshuffle over a dynamic width");
        if (h % f != 0 || w % f != 0) throw c.Unsupported($"pixel_unshuffle of {h}x{w} by {f}");
        var n = x.Dims[0];
        var split = c.E.Reshape(x, [n, SymInt.Of(ch), SymInt.Of(h / f), SymInt.Of(f), SymInt.Of(w / f), SymInt.Of(f)]);
        var moved = c.E.Transpose(split, [0, 1, 3, 5, 2, 4]);
        return c.E.Reshape(moved, [n, SymInt.Of(ch * f * f), SymInt.Of(h / f), SymInt.Of(w / f)]);
    }

    private static SymInt Times(OpCall c, SymInt d, long f) =>
        d.IsKnown ? SymInt.Of(d.Value!.Value * f) : ScalarMath.ToSym(ScalarMath.Binary("*", d, f, c.E), "size");

    /// <summary>torch.roll: elements shifted off one end come back at the other; without dims the flattened tensor rolls.</summary>
    private static object Roll(OpCall c)
    {
        var x = c.Tensor(0, "self");
        var shifts = c.Ints(1, "shifts");
        var dims = c.Ints(2, "dims", []);
        if (dims.Length == 0)
        {
            var flat = c.E.Reshape(x, [SymInt.Of(-1)]);
            return c.E.Reshape(RollAxis(c, flat, 0, shifts[0]), x.Dims);
        }
        if (dims.Length != shifts.Length) throw c.Unsupported($"{shifts.Length} shifts for {dims.Length} dims");
        for (var i = 0; i < dims.Length; i++) x = RollAxis(c, x, TensorValue.NormalizeAxis(dims[i], x.Rank), shifts[i]);
        return x;
    }

    private static TensorValue RollAxis(OpCall c, TensorValue x, long axis, long shift)
    {
        var n = x.Dims[(int)axis].Value ?? throw c.Unsupported("roll along a dynamic axis");
        shift = ((shift % n) + n) % n;
        if (shift == 0) return x;
        return c.E.Concat([c.E.Slice(x, axis, n - shift, long.MaxValue), c.E.Slice(x, axis, 0, n - shift)], axis);
    }

    /// <summary>
    /// x.repeat(sizes): tiles the tensor; extra leading sizes add leading axes. A count may be a dynamic size (RAFT
    /// repeats its coordinate grid once per image: repeat(grid, [batch, 1, 1, 1])).
    /// </summary>
    private static object Repeat(OpCall c) => TileTo(c, c.Tensor(0, "self"), c.Sizes(1, "repeats"));

    /// <summary>torch.tile: like repeat, but fewer reps than axes repeat the leading axes once.</summary>
    private static object Tile(OpCall c)
    {
        var x = c.Tensor(0, "self");
        var reps = c.Ints(1, "dims");
        if (reps.Length < x.Rank) reps = Enumerable.Repeat(1L, x.Rank - reps.Length).Concat(reps).ToArray();
        return TileTo(c, x, reps.Select(SymInt.Of).ToArray());
    }

    private static TensorValue TileTo(OpCall c, TensorValue x, IReadOnlyList<SymInt> reps)
    {
        if (reps.Count < x.Rank) throw c.Unsupported($"repeat with {reps.Count} sizes for a rank-{x.Rank} tensor");
        if (reps.Count > x.Rank) x = c.E.Unsqueeze(x, Enumerable.Range(0, reps.Count - x.Rank).Select(i => (long)i).ToArray());
        if (reps.All(r => r is { IsKnown: true, Value: 1 })) return x;
        var dims = x.Dims.Select((d, i) => Tiled(d, reps[i])).ToArray();
        return c.E.Node("Tile", [x.Name, c.G.ShapeTensor(reps)], x.Type, dims);
    }

    /// <summary>An axis of size d repeated r times, where it can be told at conversion time.</summary>
    private static SymInt? Tiled(SymInt d, SymInt r) => r.IsKnown
        ? r.Value == 1 ? d : d.IsKnown ? SymInt.Of(d.Value!.Value * r.Value!.Value) : null
        : d is { IsKnown: true, Value: 1 } ? r : null;

    /// <summary>meshgrid(tensors, indexing): each 1-D tensor laid along its own axis and expanded to the grid ("ij");
    /// "xy" swaps the first two axes of the grid.</summary>
    private static object Meshgrid(OpCall c)
    {
        var parts = c.TensorList(0, "tensors");
        var indexing = c.String(1, "indexing", "ij");
        if (indexing is not ("ij" or "xy")) throw c.Unsupported($"meshgrid indexing '{indexing}'");
        var axes = parts.Select(p => p.Rank == 0 ? SymInt.Of(1) : p.Dims[0]).ToArray();
        if (indexing == "xy" && parts.Count >= 2) (axes[0], axes[1]) = (axes[1], axes[0]);
        var grids = new List<object?>();
        for (var k = 0; k < parts.Count; k++)
        {
            var position = indexing == "xy" && k < 2 && parts.Count >= 2 ? 1 - k : k;
            var shape = axes.Select((a, i) => i == position ? a : SymInt.Of(1)).ToArray();
            var laid = c.E.Reshape(parts[k], shape);
            grids.Add(c.E.Node("Expand", [laid.Name, c.G.ShapeTensor(axes)], laid.Type, axes));
        }
        return grids;
    }
}
