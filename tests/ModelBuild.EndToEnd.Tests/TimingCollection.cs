namespace ModelBuild.EndToEnd.Tests;

/// <summary>Tests that time models run alone, after the parallel ones: other tests' load would time them, not the model.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TimingCollection
{
    public const string Name = "Timing";
}
