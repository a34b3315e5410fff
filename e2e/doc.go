// Package e2e holds the browser tests of the herald console (package
// github.com/heraldmq/herald/console): they drive Debian's chromium with
// chromedp against a console served by httptest. They are a module of
// their own so that the core module requires nothing.
//
// Chromium is found at $HERALD_CHROMIUM, else as "chromium" or
// "chromium-browser" on the PATH. Without it the tests fail when CI is
// set (so that CI cannot pass without running them) and are skipped
// otherwise. Set HERALD_E2E_SCREENSHOT to a file path to save a
// full-page screenshot of the console as the tests leave it.
package e2e
