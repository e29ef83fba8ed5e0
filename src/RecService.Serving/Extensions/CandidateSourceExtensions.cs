using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using RecService.Core.Bundle;
using RecService.Serving.Recommendations;

namespace RecService.Serving.Extensions;

public static class CandidateSourceExtensions
{
    /// <summary>Lets the replica validate and open parts of <paramref name="family"/> (<see cref="ModelFamilies"/>).</summary>
    public static IServiceCollection AddModelFamily(this IServiceCollection services, IModelFamily family)
    {
        services.AddSingleton(family);
        return services;
    }

    /// <summary>Adds a source to Recommend's chain (asked in <see cref="ICandidateSource.Order"/>); a type added twice counts once.</summary>
    public static IServiceCollection AddCandidateSource<T>(this IServiceCollection services) where T : class, ICandidateSource
    {
        services.TryAddEnumerable(ServiceDescriptor.Singleton<ICandidateSource, T>());
        return services;
    }
}
