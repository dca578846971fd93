using ModelBuild.Manifest;

namespace ModelBuild.Pipeline;

/// <summary>Orders variants so each comes after the one it is built <c>from</c> (the loader already refused cycles).</summary>
public static class VariantOrder
{
    public static IReadOnlyList<VariantSpec> Sort(IReadOnlyList<VariantSpec> variants)
    {
        var byName = variants.ToDictionary(v => v.Name.Value, StringComparer.Ordinal);
        var done = new HashSet<string>(StringComparer.Ordinal) { VariantSpec.BaseName };
        var ordered = new List<VariantSpec>();
        void Visit(VariantSpec v)
        {
            if (done.Contains(v.Name.Value)) return;
            if (byName.TryGetValue(ParentOf(v), out var parent)) Visit(parent);
            done.Add(v.Name.Value);
            ordered.Add(v);
        }
        foreach (var v in variants) Visit(v);
        return ordered;
    }

    public static string ParentOf(VariantSpec v) => string.IsNullOrEmpty(v.From.Value) ? VariantSpec.BaseName : v.From.Value;
}
