import Ensembles
@testable import Sweep
import Testing

/// A layer-norm campaign end to end, and the observables it refuses.
@Suite struct LayerNormCampaignTests {
    func campaign(_ observe: String) -> String {
        """
        seed = 2
        samples = 8
        block = 4
        [grid]
        width = [256]
        depth = [6]
        sigma_w = [1.4]
        sigma_b = [0.2]
        activation = ["tanh"]
        [network]
        architecture = "layernorm"
        [inputs]
        kind = "gram"
        count = 3
        c0 = 0.3
        [observe]
        \(observe)
        """
    }

    @Test func runsWithTheoryBesideEveryForwardQuantity() throws {
        let (s, theory, _) = try measureCampaign(campaign("forward = [\"q\", \"c\", \"gram\", \"stable_rank\"]"))
        #expect(theory.fixedPoints == nil && theory.layers.count == 6)
        for name in s.names {
            for layer in 1...6 { #expect(theory.value(of: name, layer: layer) != nil, "\(name) layer \(layer)") }
        }
        #expect(abs(s.moments[s.names.firstIndex(of: "q")!][5].mean - 1) < 1e-12)
    }

    @Test(arguments: [("forward = [\"q\", \"sensitivity\"]", "observe.forward"),
                      ("jacobian = { depths = [3] }", "observe.jacobian"),
                      ("lyapunov = { k = 2 }", "observe.lyapunov"), ("ntk = true", "observe.ntk")])
    func tangentObservablesAreRefused(_ observe: String, _ key: String) {
        #expect {
            _ = try Campaign(toml: campaign(observe))
        } throws: { error in
            guard let error = error as? ConfigError else { return false }
            return error.key == key && error.message.contains("layernorm") && error.message.contains("not implemented")
        }
    }
}
