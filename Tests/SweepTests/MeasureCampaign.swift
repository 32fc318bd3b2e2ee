import Ensembles
@testable import Sweep

/// Runs every task of a one-point campaign, as a sweep would, and returns its merged
/// statistics and theory.
func measureCampaign(_ toml: String) throws -> (EnsembleStatistics, PointTheory, Campaign) {
    let campaign = try Campaign(toml: toml)
    let catalog = TaskCatalog(campaign: campaign)
    var merger = OrderedMerger(catalog: catalog)
    for t in 0..<catalog.count { merger.add(task: t, try catalog.run(t)) }
    let theory = PointTheory(network: catalog.points[0].network, inputs: try catalog.prepared(0).inputs,
                             observables: campaign.observables)
    return (merger.merged[0], theory, campaign)
}
