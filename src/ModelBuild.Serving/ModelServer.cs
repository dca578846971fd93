using System.Net;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace ModelBuild.Serving;

/// <summary>
/// The HTTP server of <c>modelbuild serve</c>: loads the deployed models, then answers the KServe v2 protocol,
/// /predict and /metrics on Kestrel. Stopping is graceful: readiness turns false, in-flight requests finish
/// (up to the shutdown timeout), queued batches run, then sessions close.
/// </summary>
public sealed class ModelServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ModelRepository _models;
    private readonly ServerState _state;
    private int _stopped;

    private ModelServer(WebApplication app, ModelRepository models, ServerState state, Uri address)
    {
        _app = app;
        _models = models;
        _state = state;
        Address = address;
    }

    /// <summary>Where the server listens, e.g. http://127.0.0.1:8000/.</summary>
    public Uri Address { get; }

    public ServerMetrics Metrics => _state.Metrics;
    public ModelRepository Models => _models;

    /// <summary>Loads the models and starts listening; returns once requests can be answered.</summary>
    public static async Task<ModelServer> StartAsync(ServerOptions options, CancellationToken cancellationToken = default)
    {
        var address = ParseHost(options.Host);
        if (options.Port is < 0 or > 65535) throw new ArgumentException($"port {options.Port} is not between 0 and 65535");
        var metrics = new ServerMetrics();
        var models = ModelRepository.Load(options, metrics);
        try
        {
            var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory, Args = [] });
            builder.Logging.ClearProviders();
            if (options.ConsoleLogging) builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
            builder.Logging.SetMinimumLevel(LogLevel.Warning);
            builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = options.ShutdownTimeout + options.ShutdownDelay);
            builder.Services.AddSingleton<EndpointRunner>();
            builder.Services.AddSingleton(metrics);
            builder.Services.AddSingleton(models);
            builder.WebHost.ConfigureKestrel(k =>
            {
                k.AddServerHeader = false;
                k.Limits.MaxRequestBodySize = options.MaxRequestBodyBytes;
                k.Limits.MaxRequestHeadersTotalSize = 32 * 1024;
                k.Limits.RequestHeadersTimeout = TimeSpan.FromSeconds(30);
                k.Listen(address, options.Port);
            });
            builder.Services.Configure<Microsoft.AspNetCore.Http.Features.FormOptions>(o => o.MultipartBodyLengthLimit = options.MaxRequestBodyBytes);

            var app = builder.Build();
            var state = new ServerState(options, metrics);
            // Stopping callbacks run before Kestrel stops listening: readiness turns false, then the server keeps
            // answering for the delay, so balancers polling readiness move traffic away before connections close.
            app.Lifetime.ApplicationStopping.Register(() =>
            {
                state.Stopping();
                if (options.ShutdownDelay > TimeSpan.Zero) Thread.Sleep(options.ShutdownDelay);
            });
            KServeEndpoints.Map(app, models, state);
            PredictEndpoint.Map(app, models, state);
            app.MapGet("/metrics", (HttpContext c) =>
            {
                c.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
                return c.Response.WriteAsync(metrics.Render(), c.RequestAborted);
            });
            var run = app.Services.GetRequiredService<EndpointRunner>();
            app.MapFallback((HttpContext c) => run.Run(c, "unknown", "", () =>
                throw RequestException.NotFound($"no endpoint {c.Request.Method} {c.Request.Path}; see /v2, /v2/models/<name>, /predict, /metrics")));

            await app.StartAsync(cancellationToken).ConfigureAwait(false);
            var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            return new ModelServer(app, models, state, new Uri(bound.EndsWith('/') ? bound : bound + "/"));
        }
        catch
        {
            await models.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Completes when the host is asked to stop (Ctrl+C, SIGTERM, or <see cref="StopAsync"/>).</summary>
    public Task WaitForShutdownAsync(CancellationToken cancellationToken = default) => _app.WaitForShutdownAsync(cancellationToken);

    public async Task StopAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0) return;
        _state.Stopping();
        await _app.StopAsync().ConfigureAwait(false);
        await _models.DisposeAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }

    private static IPAddress ParseHost(string host) => host switch
    {
        "localhost" => IPAddress.Loopback,
        "*" or "+" => IPAddress.Any,
        _ when IPAddress.TryParse(host, out var ip) => ip,
        _ => throw new ArgumentException($"--host '{host}' is not an IP address (use 127.0.0.1, 0.0.0.0, ::1 or localhost)"),
    };
}
