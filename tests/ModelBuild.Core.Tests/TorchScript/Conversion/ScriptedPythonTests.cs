using ModelBuild.Data;
using ModelBuild.Diagnostics;
using ModelBuild.Execution;
using ModelBuild.Onnx;
using ModelBuild.TorchScript.Conversion;
using static ModelBuild.Core.Tests.TorchScript.Conversion.ConverterErrorTests;

namespace ModelBuild.Core.Tests.TorchScript.Conversion;

/// <summary>
/// The Python that torch.jit.script keeps in torchvision and torch.nn code (it is traced away otherwise): input checks
/// on the dynamic batch, dicts, `in`, dtype comparisons, str.format, NamedTuple outputs, torch.tensor literals.
/// Each converted graph is run by ONNX Runtime on a batch of 2 rows of [1, 2, 3, 4].
/// </summary>
public sealed class ScriptedPythonTests
{
    private static double[][] Run(string forwardBody, string extraCode = "") =>
        Outputs(forwardBody, extraCode).Select(o => o.ToDoubles()[..4]).ToArray();

    private static NdArray[] Outputs(string forwardBody, string extraCode = "")
    {
        var model = TorchScriptToOnnx.Convert(WithCode(forwardBody, extraCode: extraCode), Options());
        var path = Path.Combine(Path.GetTempPath(), $"mb-scripted-{Guid.NewGuid():N}.onnx");
        File.WriteAllBytes(path, OnnxModelFile.Serialize(model));
        try
        {
            using var runner = new ModelRunner(path, new SourceLocation(path));
            var outputs = runner.Run(new Dictionary<string, NdArray> { ["input"] = NdArray.Of(new float[] { 1, 2, 3, 4, 1, 2, 3, 4 }, 2, 4) });
            return outputs.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => p.Value).ToArray();
        }
        finally { File.Delete(path); }
    }

    private static string Refused(string forwardBody) =>
        Assert.Throws<ModelBuildException>(() => TorchScriptToOnnx.Convert(WithCode(forwardBody), Options())).Message;

    /// <summary>BatchNorm's "expected more than 1 value per channel" on the dynamic batch: the branch that raises is not taken.</summary>
    [Fact]
    public void A_check_on_the_dynamic_batch_that_raises_takes_the_other_branch()
    {
        var y = Run("    if torch.eq(torch.size(x, 0), 1):\n      ops.prim.RaiseException(\"one row\", \"builtins.ValueError\")\n" +
            "    else:\n      pass\n    assert torch.gt(torch.size(x, 0), 0)\n    return torch.neg(x)\n");
        Assert.Equal([-1.0, -2, -3, -4], y[0]);
    }

    [Fact]
    public void A_dynamic_batch_that_steers_the_computation_is_refused()
    {
        var message = Refused("    if torch.eq(torch.size(x, 0), 1):\n      y = torch.neg(x)\n    else:\n      y = torch.relu(x)\n    return y\n");
        Assert.Contains("'==' on a dynamic size cannot be folded", message);
        // not decides nothing either; `or True` does.
        Assert.Contains("'!=' on a dynamic size", Refused("    if not torch.ne(torch.size(x, 0), 3):\n      y = x\n    else:\n      y = torch.neg(x)\n    return y\n"));
        var y = Run("    if torch.ne(torch.size(x, 0), 3) or True:\n      y = torch.neg(x)\n    else:\n      y = x\n    return y\n");
        Assert.Equal([-1.0, -2, -3, -4], y[0]);
    }

    /// <summary>torchvision's IntermediateLayerGetter: a dict filled by name and read back; returned, it is refused.</summary>
    [Fact]
    public void Dicts_fill_and_read_back_in_insertion_order()
    {
        var y = Run("    out = torch.dict()\n    names = {\"a\": \"first\", \"b\": \"second\"}\n" +
            "    if torch.__contains__(names, \"b\"):\n      torch._set_item(out, names[\"b\"], torch.neg(x))\n    else:\n      pass\n" +
            "    if torch.__contains__(names, \"z\"):\n      torch._set_item(out, \"z\", x)\n    else:\n      pass\n" +
            "    torch._set_item(out, \"last\", torch.add(out[\"second\"], 10))\n" +
            "    if torch.eq(torch.len(torch.keys(out)), 2):\n      pass\n    else:\n      ops.prim.RaiseException(\"\")\n" +
            "    return torch.values(out)\n");
        Assert.Equal(2, y.Length);
        Assert.Equal([-1.0, -2, -3, -4], y[0]);
        Assert.Equal([9.0, 8, 7, 6], y[1]);
        var refused = Refused("    out = torch.dict()\n    torch._set_item(out, \"out\", x)\n    return out\n");
        Assert.Contains("forward() returns a dict (keys 'out')", refused);
        Assert.Contains("wrapper module", refused);
    }

    [Fact]
    public void Membership_dtypes_and_formatted_strings_fold()
    {
        var y = Run("    _0 = torch.__contains__([\"batch\", \"row\"], \"row\")\n" +
            "    _1 = torch.ne(ops.prim.dtype(x), 6)\n" + // float32 is ScalarType 6
            "    why = torch.format(\"{} was {}\", \"mode\", 3)\n" +
            "    _2 = torch.__contains__(str(ops.prim.device(x)), \"cpu\")\n" +
            "    if _0 and torch.__not__(_1) and torch.eq(torch.len(why), 10) and _2 and torch.__not__(ops.prim.is_nested(x)):\n" +
            "      y = torch.neg(x)\n    else:\n      y = x\n    return y\n");
        Assert.Equal([-1.0, -2, -3, -4], y[0]);
    }

    /// <summary>GoogLeNet scripted returns GoogLeNetOutputs(logits, None, None) in eval: one output, fields read by name.</summary>
    [Fact]
    public void NamedTuple_outputs_read_by_field_and_drop_None()
    {
        const string outputs = "class Outputs(NamedTuple):\n  logits : Tensor\n  aux : Optional[Tensor]\n";
        var y = Run("    o = __torch__.Outputs(torch.neg(x), None)\n    return __torch__.Outputs(torch.add(o.logits, 1), o.aux)\n", outputs);
        Assert.Equal([0.0, -1, -2, -3], Assert.Single(y));
    }

    /// <summary>Swin's window_reverse: B = int(windows.shape[0] / (H * W / ws / ws)) with the batch dynamic.</summary>
    [Fact]
    public void Int_of_a_dynamic_size_divided_with_slash_is_a_floor_division()
    {
        var y = Outputs("    _0 = torch.div(torch.mul(4, 4), 4)\n    B = int(torch.div(torch.size(x, 0), torch.div(_0, 2)))\n" +
            "    return torch.view(x, [B, -1])\n");
        Assert.Equal([1L, 8], Assert.Single(y).Shape);
        Assert.Contains("converts only inside int()",
            Refused("    return torch.view(x, [torch.mul(torch.div(torch.size(x, 0), 2.), 2), -1])\n"));
    }

    /// <summary>RAFT's correlation block keeps its pyramid on self and reverses a list with [::-1]; MViT takes max(q, k).</summary>
    [Fact]
    public void Attribute_writes_reversed_lists_and_prim_max_fold()
    {
        var body = "    self.cache = [torch.neg(x)]\n    c = self.cache\n    _0 = torch.append(c, torch.mul(x, 10))\n" +
            "    r = torch.slice([1, 2, 3], None, None, -1)\n    _1 = torch.insert(r, -1, 7)\n    _2 = torch.pop(r, 2)\n" +
            "    return torch.add(self.cache[1], torch.add(r[0], ops.prim.max(r[2], 2)))\n";
        Assert.Equal([15.0, 25, 35, 45], Run(body)[0]);
        // The write lives in one conversion: converting the same archive again starts from the saved module.
        var archive = WithCode(body);
        TorchScriptToOnnx.Convert(archive, Options());
        Assert.False(archive.Root.Attributes.ContainsKey("cache"));
    }

    [Fact]
    public void Tensor_literals_are_constants_with_pytorchs_dtype()
    {
        var y = Run("    w = torch.tensor([[1., 0., 0., 2.]])\n    i = torch.tensor([0, 3])\n    m = torch.tensor(True)\n" +
            "    if torch.eq(ops.prim.dtype(i), 4) and torch.eq(ops.prim.dtype(m), 11):\n      s = torch.mul(x, w)\n    else:\n      s = x\n" +
            "    return torch.add(s, torch.sum(torch.tensor([2, 3])))\n");
        Assert.Equal([6.0, 5, 5, 13], y[0]);
        Assert.Contains("torch.tensor of computed values", Refused("    return torch.tensor([torch.size(x, 0), 2])\n"));
    }
}
