using ModelBuild.Runtime;

namespace ModelBuild.Serving;

/// <summary>Every model the server loaded from the output folder, by name.</summary>
public sealed class ModelRepository : IAsyncDisposable
{
    private readonly Dictionary<string, ServedModel> _models;

    private ModelRepository(Dictionary<string, ServedModel> models) => _models = models;

    public IReadOnlyCollection<ServedModel> All => _models.Values;

    /// <summary>Loads the deployed model of each entry in the folder's report (or models/*/model.onnx).</summary>
    public static ModelRepository Load(ServerOptions options, ServerMetrics metrics)
    {
        if (!Directory.Exists(options.Directory))
            throw new DirectoryNotFoundException($"'{options.Directory}' is not a folder; pass a ModelBuild output " +
                $"folder (modelbuild build --out DIR)");
        var entries = DeployedModels.List(options.Directory)
            .Where(e => options.Models.Count == 0 || options.Models.Contains(e.Name)).ToList();
        var missing = options.Models.Where(m => entries.All(e => e.Name != m)).ToList();
        if (missing.Count > 0)
            throw new InvalidOperationException($"'{options.Directory}' has no deployed model {string.Join(", ", missing.Select(m => $"'{m}'"))}");
        if (entries.Count == 0)
            throw new InvalidOperationException($"'{options.Directory}' holds no deployed models (no " +
                $"modelbuild-report.json or models/<name>/model.onnx)");
        var models = new Dictionary<string, ServedModel>(StringComparer.Ordinal);
        foreach (var entry in entries)
        {
            var model = DeployedModel.Open(entry.Path, entry.Name, entry.Variant,
                new DeployedModelOptions { IntraOpThreads = options.IntraOpThreads });
            models[entry.Name] = new ServedModel(model, options, metrics, DeployedModels.Preprocessing(entry.Name, options.Directory));
        }
        return new ModelRepository(models);
    }

    public ServedModel? Find(string name) => _models.GetValueOrDefault(name);

    public ServedModel Get(string name) => Find(name)
        ?? throw RequestException.NotFound($"no model '{name}'; this server has {string.Join(", ", _models.Keys.Select(k => $"'{k}'"))}");

    public async ValueTask DisposeAsync()
    {
        foreach (var m in _models.Values) await m.DisposeAsync().ConfigureAwait(false);
    }
}
