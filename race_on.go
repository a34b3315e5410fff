//go:build race

package herald

// raceEnabled is set when the race detector is on: herald then favours
// catching misuse over speed (see Delivery), and its tests shorten the runs
// that the detector makes slow.
const raceEnabled = true
