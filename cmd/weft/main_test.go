package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestUnknownSubcommandFails: an unknown subcommand of a command group is an error (one line),
// not the group's help with success; the bare group still prints its help.
func TestUnknownSubcommandFails(t *testing.T) {
	strictGroups(rootCmd)
	for _, args := range [][]string{{"volume", "bogus"}, {"peer", "bogus", "x"}, {"bogus"}} {
		var out bytes.Buffer
		rootCmd.SetOut(&out)
		rootCmd.SetErr(&out)
		rootCmd.SetArgs(args)
		err := rootCmd.Execute()
		if err == nil || !strings.Contains(err.Error(), `unknown command "bogus"`) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: err %v", args, err)
		}
	}
	var out bytes.Buffer
	rootCmd.SetOut(&out)
	rootCmd.SetArgs([]string{"volume"})
	if err := rootCmd.Execute(); err != nil || !strings.Contains(out.String(), "Available Commands") {
		t.Errorf("bare group: %v\n%s", err, out.String())
	}
}
