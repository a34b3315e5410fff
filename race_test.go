//go:build race

package herald

// raceEnabled shortens tests that the race detector makes slow.
const raceEnabled = true
