package plugins

import "fmt"

// Authorization plugins (Docker's AuthZ protocol, the deck's "auth
// plugins"): the daemon asks each one about every request before serving
// it (/AuthZPlugin.AuthZReq) and about the answer before sending it
// (/AuthZPlugin.AuthZRes). The protocol is documented at
// https://docs.docker.com/engine/extend/plugins_authorization/; the types
// below are moby's pkg/authorization/api.go, field for field (that package
// lives in moby/moby/v2's daemon module, which is not importable here).

// AuthZRequest is what the daemon sends an authorization plugin.
type AuthZRequest struct {
	User               string            `json:"User,omitempty"`
	UserAuthNMethod    string            `json:"UserAuthNMethod,omitempty"`
	RequestMethod      string            `json:"RequestMethod,omitempty"`
	RequestURI         string            `json:"RequestURI,omitempty"`
	RequestBody        []byte            `json:"RequestBody,omitempty"` // base64 in JSON, as []byte encodes
	RequestHeaders     map[string]string `json:"RequestHeaders,omitempty"`
	ResponseStatusCode int               `json:"ResponseStatusCode,omitempty"`
	ResponseBody       []byte            `json:"ResponseBody,omitempty"`
	ResponseHeaders    map[string]string `json:"ResponseHeaders,omitempty"`
}

// AuthZResponse is a plugin's answer (moby's authorization.Response).
type AuthZResponse struct {
	Allow bool   `json:"Allow"`
	Msg   string `json:"Msg,omitempty"`
	Err   string `json:"Err,omitempty"`
}

// AuthZPlugin is an activated authorization plugin.
type AuthZPlugin struct{ *Client }

// AuthZ finds the plugin called name in d and activates it; it must
// implement "authz".
func AuthZ(d Dirs, name string) (*AuthZPlugin, error) {
	c, err := Get(d, name, "authz")
	if err != nil {
		return nil, fmt.Errorf("authorization plugin: %w", err)
	}
	return &AuthZPlugin{c}, nil
}

// Request asks the plugin whether req may be served.
func (p *AuthZPlugin) Request(req AuthZRequest) (AuthZResponse, error) {
	var res AuthZResponse
	err := p.Call("/AuthZPlugin.AuthZReq", req, &res)
	return res, err
}

// Response asks the plugin whether the answer in req (its Response*
// fields filled) may be sent.
func (p *AuthZPlugin) Response(req AuthZRequest) (AuthZResponse, error) {
	var res AuthZResponse
	err := p.Call("/AuthZPlugin.AuthZRes", req, &res)
	return res, err
}
