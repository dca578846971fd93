namespace ModelBuild.Manifest.Loading;

/// <summary>Suggests the closest known word for a misspelt one (keys, enum values).</summary>
internal static class DidYouMean
{
    /// <summary>The closest candidate, or null when none is close enough to be a plausible typo.</summary>
    public static string? Suggest(string word, IEnumerable<string> candidates)
    {
        string? best = null;
        var bestDistance = int.MaxValue;
        foreach (var candidate in candidates)
        {
            var d = Distance(word.ToLowerInvariant(), candidate.ToLowerInvariant());
            if (d < bestDistance)
            {
                bestDistance = d;
                best = candidate;
            }
        }
        if (best is null) return null;
        // Short words need a tight bound or every two-letter key "matches" everything.
        var allowed = Math.Max(1, Math.Min(3, best.Length / 3));
        if (bestDistance <= allowed) return best;

        // Abbreviations ("max_batch" for "max_batch_size") are too far by edit distance; accept a unique prefix.
        if (word.Length < 4) return null;
        var prefixed = candidates.Where(c => c.StartsWith(word, StringComparison.OrdinalIgnoreCase)).Take(2).ToList();
        return prefixed.Count == 1 ? prefixed[0] : null;
    }

    /// <summary>"; did you mean 'x'?" or "" — ready to append to a message.</summary>
    public static string Hint(string word, IEnumerable<string> candidates) =>
        Suggest(word, candidates) is { } s ? $"; did you mean '{s}'?" : "";

    /// <summary>Optimal string alignment distance: Levenshtein plus adjacent transpositions ("pruen" → "prune").</summary>
    public static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (var j = 0; j <= b.Length; j++) d[0, j] = j;
        for (var i = 1; i <= a.Length; i++)
        {
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                var v = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                    v = Math.Min(v, d[i - 2, j - 2] + 1);
                d[i, j] = v;
            }
        }
        return d[a.Length, b.Length];
    }
}
