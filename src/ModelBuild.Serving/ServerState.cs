namespace ModelBuild.Serving;

/// <summary>What endpoints share: readiness, metrics and the options they enforce.</summary>
internal sealed class ServerState(ServerOptions options, ServerMetrics metrics)
{
    private volatile bool _stopping;

    public ServerOptions Options { get; } = options;
    public ServerMetrics Metrics { get; } = metrics;
    public long MaxRequestBodyBytes => Options.MaxRequestBodyBytes;
    public bool Ready => !_stopping;

    public void Stopping() => _stopping = true;
}
