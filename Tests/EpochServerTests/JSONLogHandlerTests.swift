import EpochServer
import Logging
import Testing

@Suite struct JSONLogHandlerTests {
    @Test func rendersOneObjectWithTimeLevelMessageAndSortedMetadata() {
        let line = JSONLogHandler.render(
            time: 1_796_114_096_123_456_789, level: .warning, label: "epoch", message: "measurement \"failed\"\n",
            metadata: ["source": "http://a", "attempts": .array(["1", "2"]), "nested": .dictionary(["k": "v"])])
        #expect(
            line
                == #"{"time":"2026-12-01T08:34:56.123Z","level":"warning","label":"epoch","#
                + #""message":"measurement \"failed\"\n","#
                + #""metadata":{"attempts":["1","2"],"nested":{"k":"v"},"source":"http://a"}}"#)
    }

    @Test func leavesMetadataOutWhenThereIsNone() {
        let line = JSONLogHandler.render(time: 0, level: .info, label: "l", message: "m", metadata: [:])
        #expect(line == #"{"time":"1970-01-01T00:00:00.000Z","level":"info","label":"l","message":"m"}"#)
    }

    @Test func timesBefore1970AndLeapDaysFormat() {
        let line = JSONLogHandler.render(
            time: -1_000_000, level: .error, label: "l", message: "m", metadata: [:])
        #expect(line.hasPrefix(#"{"time":"1969-12-31T23:59:59.999Z""#))
        let leapDay = JSONLogHandler.render(
            time: 1_709_208_000_000_000_000, level: .info, label: "l", message: "m", metadata: [:])
        #expect(leapDay.hasPrefix(#"{"time":"2024-02-29T12:00:00.000Z""#))
    }
}
